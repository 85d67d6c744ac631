"""``wardwatch train af``: features of the shared recordings, honest cross-validation, final fit.

Data (``../shared/data``):

- ``cinc2017/``: 200 records, 300 Hz, labels N/A/O/~ from ``REFERENCE.csv``, each cut into 30 s
  windows (:func:`~wardwatch.models.detectors.af.record_windows`) that carry the record's label;
- ``cpsc2021/``: 12 records of 4 patients (the patient is the first number of the record name,
  ``data_<patient>_<record>``), each lead (I and II) resampled 200 -> 300 Hz as its own
  single-lead record, 30 s windows every 5 s (weighted 5/30 in the loss) labelled
  ``A`` when wholly inside an ``(AFIB`` episode and ``N`` when wholly outside one (windows that
  straddle an onset or offset are left out). CPSC's non-AF includes ectopy, so its ``N`` means
  "not AF".

Cross-validation: 4 folds, repeated with 3 different fold assignments (the spread is reported:
with 37 AF records and 4 CPSC patients one assignment is a noisy estimate). Fold *k* holds out a quarter of the CinC records (stratified by
label) and every record of one CPSC patient; nothing of a held-out record or patient (windows,
feature statistics) is seen in training. Reported: CinC record-level F1 per class and the CinC
2017 score (mean F1 of N, A, O), and CPSC window-level F1 of the AF class; predictions pooled over
the folds. The final model is then fit on everything and written with its metrics.

Features are cached outside the repository (``$XDG_CACHE_HOME/wardwatch/af``, else
``~/.cache/wardwatch/af``), keyed by the feature code and the data files.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from wardwatch.models.detectors import af_features
from wardwatch.models.detectors.af import CLASSES, FS_HZ, build_net, record_windows
from wardwatch.models.detectors.af_eval import read_cinc_record
from wardwatch.models.detectors.af_features import FEATURE_NAMES, window_features

logger = logging.getLogger(__name__)

__all__ = ["HYPER", "load_dataset", "fit", "cross_validate", "train", "f1_scores"]

#: Model and optimiser settings (the committed weights used exactly these).
HYPER: dict[str, Any] = {"hidden": 16, "members": 5, "epochs": 400, "lr": 0.01, "weight_decay": 1e-2, "folds": 4,
                         "repeats": 3}
_CPSC_STEP_S = 5.0


def _cache_dir() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "wardwatch" / "af"


def _cache_key(files: list[Path]) -> str:
    h = hashlib.sha256(Path(af_features.__file__).read_bytes())
    h.update(Path(__file__).with_name("af.py").read_bytes())
    for f in files:
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]


def _rows(windows: NDArray[np.float32]) -> NDArray[np.float64]:
    out = []
    for w in windows:
        f = window_features(w[0], FS_HZ)
        out.append(np.full(len(FEATURE_NAMES), np.nan) if f is None else f)
    return np.array(out)


def _cinc(folder: Path) -> list[tuple[str, str, str, NDArray[np.float64]]]:
    ref = {r[0]: r[1] for r in csv.reader((folder / "REFERENCE.csv").open()) if len(r) >= 2}
    out = []
    for name, label in sorted(ref.items()):
        x = read_cinc_record(folder / f"{name}.mat")
        for row in _rows(record_windows(x, FS_HZ)):
            out.append(("cinc2017", name, label, row))
    return out


def _af_intervals(base: str, n: int) -> list[tuple[int, int]]:
    import wfdb

    ann = wfdb.rdann(base, "atr")
    spans, start = [], None
    for sym, note, at in zip(ann.symbol, ann.aux_note, ann.sample):
        if sym != "+":
            continue
        note = (note or "").strip("\x00 ")
        if note.startswith("(AF") and start is None:
            start = int(at)
        elif not note.startswith("(AF") and start is not None:
            spans.append((start, int(at)))
            start = None
    if start is not None:
        spans.append((start, n))
    return spans


def _cpsc(folder: Path) -> list[tuple[str, str, str, NDArray[np.float64]]]:
    import wfdb

    out = []
    for hea in sorted(folder.glob("*.hea")):
        base = str(hea)[:-4]
        rec = wfdb.rdrecord(base)
        fs = float(rec.fs)
        spans = _af_intervals(base, rec.sig_len)
        win, step = int(30 * fs), int(_CPSC_STEP_S * fs)
        for lead in range(rec.n_sig):
            x = rec.p_signal[:, lead].astype(np.float64)
            for s in range(0, x.size - win + 1, step):
                e = s + win
                inside = any(a <= s and e <= b for a, b in spans)
                touches = any(a < e and s < b for a, b in spans)
                if inside or not touches:
                    row = _rows(record_windows(x[s:e], fs)[:1])[0]
                    out.append(("cpsc2021", f"{hea.stem}:{rec.sig_name[lead]}", "A" if inside else "N", row))
    return out


def load_dataset(data_dir: Path, echo: Callable[[str], object] = lambda s: None) -> dict[str, NDArray[Any]]:
    """Feature rows of every training window: ``X``, ``y`` (class index), ``dataset``, ``record``.

    Cached outside the repository; the first run takes about 10 s per 100 windows on one core.
    """
    cinc, cpsc = Path(data_dir) / "cinc2017", Path(data_dir) / "cpsc2021"
    for folder in (cinc, cpsc):
        if not folder.is_dir():
            raise FileNotFoundError(f"missing training data folder {folder}")
    files = sorted(cinc.glob("*.mat")) + [cinc / "REFERENCE.csv"] + sorted(cpsc.iterdir())
    cache = _cache_dir() / f"features-{_cache_key(files)}.npz"
    if cache.is_file():
        echo(f"features from cache {cache}")
        with np.load(cache, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    t0 = time.perf_counter()
    items = _cinc(cinc) + _cpsc(cpsc)
    ds = {
        "X": np.array([r[3] for r in items]),
        "y": np.array([CLASSES.index(r[2]) for r in items]),
        "dataset": np.array([r[0] for r in items]),
        "record": np.array([r[1] for r in items]),
        "weight": np.array([1.0 if r[0] == "cinc2017" else _CPSC_STEP_S / 30.0 for r in items]),
    }
    echo(f"features of {len(items)} windows in {time.perf_counter() - t0:.0f} s -> {cache}")
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **ds)
    return ds


def fit(X: NDArray[np.float64], y: NDArray[np.int64], seed: int, hyper: dict[str, Any] | None = None,
        weight: NDArray[np.float64] | None = None) -> Any:
    """Fit the MLP ensemble on feature rows (full batch, class-balanced weighted loss); eval mode."""
    import torch

    hp = {**HYPER, **(hyper or {})}
    torch.manual_seed(seed)
    net = build_net(X.shape[1], hp["hidden"], hp["members"])
    with torch.no_grad():
        net.mean.copy_(torch.as_tensor(np.nanmean(X, axis=0), dtype=torch.float32))
        sd = np.nanstd(X, axis=0)
        net.std.copy_(torch.as_tensor(np.where(sd > 0, sd, 1.0), dtype=torch.float32))
    xt = net.standardise(torch.as_tensor(X, dtype=torch.float32))
    yt = torch.as_tensor(y, dtype=torch.long)
    sw = np.ones(y.size) if weight is None else np.asarray(weight, dtype=np.float64)
    counts = np.bincount(y, weights=sw, minlength=len(CLASSES))
    cw = np.where(counts > 0, counts.sum() / np.maximum(counts, 1e-9) / len(CLASSES), 0.0)
    wt = torch.as_tensor(sw * cw[y], dtype=torch.float32)
    wt = wt / wt.sum()
    loss_fn = torch.nn.CrossEntropyLoss(reduction="none")
    net.train()
    for member in net.members:
        opt = torch.optim.AdamW(member.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
        for _ in range(hp["epochs"]):
            opt.zero_grad()
            loss = (loss_fn(member(xt), yt) * wt).sum()
            loss.backward()
            opt.step()
    return net.eval()


def _proba(net: Any, X: NDArray[np.float64]) -> NDArray[np.float64]:
    import torch

    with torch.inference_mode():
        p = net(torch.as_tensor(X, dtype=torch.float32)).double().numpy()
    p[np.all(np.isnan(X), axis=1)] = np.nan  # unscorable windows
    return p


def f1_scores(truth: list[str], pred: list[str]) -> dict[str, float]:
    """F1 of each class in :data:`CLASSES` (NaN for a class neither true nor predicted)."""
    out = {}
    for c in CLASSES:
        tp = sum(t == c and p == c for t, p in zip(truth, pred))
        fp = sum(t != c and p == c for t, p in zip(truth, pred))
        fn = sum(t == c and p != c for t, p in zip(truth, pred))
        out[c] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    return out


def _record_labels(p: NDArray[np.float64], records: NDArray[Any]) -> dict[str, str]:
    out = {}
    for r in dict.fromkeys(records):
        rows = p[records == r]
        rows = rows[np.all(np.isfinite(rows), axis=1)]
        out[str(r)] = CLASSES[int(np.argmax(rows.mean(0)))] if len(rows) else "~"
    return out


def _summary(ds: dict[str, NDArray[Any]], p: NDArray[np.float64]) -> dict[str, Any]:
    cinc = ds["dataset"] == "cinc2017"
    truth = dict(zip(ds["record"][cinc], (CLASSES[i] for i in ds["y"][cinc])))
    pred = _record_labels(p[cinc], ds["record"][cinc])
    names = sorted(truth)
    f1 = f1_scores([truth[r] for r in names], [pred[r] for r in names])
    cp = ~cinc
    ct = ["A" if CLASSES[i] == "A" else "-" for i in ds["y"][cp]]
    cpred = ["A" if np.isfinite(q).all() and int(np.argmax(q)) == 1 else "-" for q in p[cp]]
    tp = sum(t == "A" == q for t, q in zip(ct, cpred))
    return {
        "cinc2017": {"records": len(names), "f1": f1, "af_f1": f1["A"],
                     "cinc2017_score_mean_f1_NAO": float(np.mean([f1["N"], f1["A"], f1["O"]])),
                     "accuracy": float(np.mean([truth[r] == pred[r] for r in names]))},
        "cpsc2021": {"windows": int(cp.sum()), "af_windows": ct.count("A"), "af_f1": f1_scores(ct, cpred)["A"],
                     "af_sensitivity": tp / max(ct.count("A"), 1),
                     "non_af_specificity": sum(t == q == "-" for t, q in zip(ct, cpred)) / max(ct.count("-"), 1)},
    }


def _folds(ds: dict[str, NDArray[Any]], k: int, seed: int) -> NDArray[np.int64]:
    rng = np.random.default_rng(seed)
    fold = np.zeros(ds["y"].size, dtype=np.int64)
    cinc = ds["dataset"] == "cinc2017"
    labels = dict(zip(ds["record"][cinc], ds["y"][cinc]))
    assign: dict[str, int] = {}
    for c in range(len(CLASSES)):
        recs = sorted(r for r, lab in labels.items() if lab == c)
        rng.shuffle(recs)
        offset = int(rng.integers(k))
        assign.update({r: (i + offset) % k for i, r in enumerate(recs)})
    patients = sorted({r.split("_")[1] for r in ds["record"][~cinc]})
    rng.shuffle(patients)
    assign.update({r: patients.index(r.split("_")[1]) % k for r in set(ds["record"][~cinc])})
    for i, r in enumerate(ds["record"]):
        fold[i] = assign[str(r)]
    return fold


def cross_validate(ds: dict[str, NDArray[Any]], seed: int, hyper: dict[str, Any] | None = None) -> dict[str, Any]:
    """Out-of-fold metrics: folds by record for CinC 2017, by patient for CPSC 2021."""
    hp = {**HYPER, **(hyper or {})}
    fold = _folds(ds, hp["folds"], seed)
    p = np.full((ds["y"].size, len(CLASSES)), np.nan)
    ok = ~np.all(np.isnan(ds["X"]), axis=1)
    for k in range(hp["folds"]):
        tr, te = (fold != k) & ok, fold == k
        net = fit(ds["X"][tr], ds["y"][tr], seed + k, hp, ds["weight"][tr])
        p[te] = _proba(net, ds["X"][te])
    return _summary(ds, p)


def _mean_metrics(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean, min and max of each scalar metric over repeated cross-validations."""
    out: dict[str, Any] = {}
    for key, value in runs[0].items():
        if isinstance(value, dict):
            out[key] = _mean_metrics([r[key] for r in runs])
        elif isinstance(value, float):
            vals = [float(r[key]) for r in runs]
            out[key] = {"mean": float(np.mean(vals)), "min": min(vals), "max": max(vals)}
    return out


def train(data_dir: Path, out_dir: Path, seed: int, echo: Callable[[str], object]) -> dict[str, Any]:
    """Cross-validate, fit on everything, write ``af.pt`` and ``af.metrics.json`` to ``out_dir``."""
    import torch

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    ds = load_dataset(Path(data_dir), echo)
    echo(f"{ds['y'].size} windows; cross-validating ({HYPER['folds']} folds x {HYPER['repeats']} fold assignments)")
    runs = [cross_validate(ds, seed + 100 * r) for r in range(HYPER["repeats"])]
    cv = {"runs": runs, "mean": _mean_metrics(runs)}
    ok = ~np.all(np.isnan(ds["X"]), axis=1)
    net = fit(ds["X"][ok], ds["y"][ok], seed, None, ds["weight"][ok])
    refit = _summary(ds, _proba(net, ds["X"]))
    metrics = {"cross_validated": cv, "training_set_refit": refit, "seed": seed, "hyper": HYPER,
               "features": list(FEATURE_NAMES), "windows": int(ds["y"].size),
               "train_seconds": round(time.perf_counter() - t0, 1), "torch": torch.__version__}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    blob = {"state_dict": net.state_dict(), "feature_names": list(FEATURE_NAMES),
            "hidden": HYPER["hidden"], "members": HYPER["members"], "fs_hz": FS_HZ}
    torch.save(blob, out_dir / "af.pt")
    (out_dir / "af.metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    echo(f"wrote {out_dir / 'af.pt'} and af.metrics.json in {metrics['train_seconds']} s")
    return metrics
