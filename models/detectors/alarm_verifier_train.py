"""``wardwatch train alarm-verifier``: evidence, honest cross-validation, weights.

1. Evidence of every record of ``challenge2015/`` (the window ending at the alarm), cached under
   ``$XDG_CACHE_HOME/wardwatch`` (``~/.cache/wardwatch``) keyed by the evidence code and the
   record list, so a second run skips it.
2. Cross-validation, :data:`REPEATS` times 5 folds by record, stratified by alarm type and
   verdict. Inside each training part, an inner 4-fold CV gives out-of-fold probabilities from
   which the per-type thresholds are chosen (lowest cost FP + 5·FN that keeps >= 95 % of true
   alarms, :func:`~wardwatch.models.detectors.alarm_net.pick_thresholds`); the test fold is
   touched only to be scored. The challenge score, TPR and TNR are reported per alarm type and
   separately for the 's' (alarm at the end) and 'l' (30 s more) records.
3. The shipped model: thresholds from the out-of-fold probabilities of the first repeat, an
   ensemble fitted on all records; weights and metrics written to ``out_dir``.

Everything runs on the CPU with one thread and fixed seeds, so a rerun reproduces the metrics
(tolerance in the model card).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from wardwatch.models.detectors import alarm_evidence, alarm_spectral
from wardwatch.models.detectors.alarm_evidence import ALARM_TYPES, FEATURE_NAMES, alarm_features, channel_evidence
from wardwatch.models.detectors.alarm_net import HIDDEN, challenge_score, fit, pick_thresholds, predict
from wardwatch.models.detectors.alarm_records import read_alarm_type, read_verdicts, read_window, record_names
from wardwatch.models.detectors.alarm_verifier import AlarmVerifier

__all__ = ["Dataset", "REPEATS", "load_dataset", "cross_validate", "summarize", "train"]

logger = logging.getLogger(__name__)

REPEATS = 3
OUTER, INNER = 5, 4
#: Inner cross-validations averaged for the out-of-fold probabilities the thresholds come from.
INNER_REPEATS = 1
Echo = Callable[[str], Any]
Dataset = tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.str_], NDArray[np.str_]]


def _challenge_dir(data_dir: Path) -> Path:
    d = Path(data_dir)
    return d if (d / "ALARMS").is_file() else d / "challenge2015"


def _cache_dir() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return root / "wardwatch"


def load_dataset(data_dir: Path, echo: Echo = logger.info, use_cache: bool = True) -> Dataset:
    """Evidence features, verdicts, alarm types and names of every record (cached).

    ``data_dir`` is the shared data folder or its ``challenge2015/`` sub-folder. Verdicts come
    from the ``ALARMS`` file; the features see only the window and the header's alarm type.
    """
    d = _challenge_dir(data_dir)
    if not (d / "ALARMS").is_file():
        raise FileNotFoundError(f"no challenge2015 ALARMS file under {data_dir}")
    names = record_names(d)
    key = hashlib.sha256((inspect.getsource(alarm_evidence) + inspect.getsource(alarm_spectral) + inspect.getsource(read_window)
                          + f"{AlarmVerifier.WINDOW_S}|" + ",".join(names)).encode()).hexdigest()[:16]
    cache = _cache_dir() / f"alarm_evidence_{key}.npz"
    verdicts = read_verdicts(d)
    y = np.array([verdicts[n][1] for n in names], dtype=np.int64)
    types = np.array([read_alarm_type(d / f"{n}.hea") for n in names])
    if use_cache and cache.is_file():
        echo(f"evidence of {len(names)} records from the cache {cache}")
        x = np.load(cache)["x"]
        return x, y, types, np.array(names)
    echo(f"computing evidence of {len(names)} records (about 30-120 s) ...")
    t0 = time.perf_counter()
    rows = []
    for n, t in zip(names, types):
        rows.append(alarm_features(channel_evidence(read_window(d / n, AlarmVerifier.WINDOW_S)), str(t)))
    x = np.stack(rows)
    echo(f"evidence done in {time.perf_counter() - t0:.0f} s")
    if use_cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, x=x)
    return x, y, types, np.array(names)


def _folds(strata: NDArray[np.str_], k: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """Fold number per row, each stratum dealt round-robin after a shuffle."""
    fold = np.zeros(strata.size, dtype=np.int64)
    offset = 0
    for s in sorted(set(strata.tolist())):
        idx = rng.permutation(np.flatnonzero(strata == s))
        fold[idx] = (np.arange(idx.size) + offset) % k
        offset += idx.size
    return fold


def _oof(x: NDArray[np.float64], y: NDArray[np.int64], strata: NDArray[np.str_], k: int, seed: int) -> NDArray[np.float64]:
    fold = _folds(strata, k, np.random.default_rng(seed))
    prob = np.zeros(y.size)
    for f in range(k):
        te = fold == f
        prob[te] = predict(fit(x[~te], y[~te], seed), x[te])
    return prob


def cross_validate(data: Dataset, seed: int, repeats: int = REPEATS) -> tuple[list[NDArray[np.int64]], NDArray[np.float64]]:
    """Out-of-fold decisions for each repeat, and the first repeat's out-of-fold probabilities."""
    x, y, types, _ = data
    strata = np.array([f"{t}|{v}" for t, v in zip(types, y)])
    decisions, first_prob = [], np.zeros(y.size)
    for r in range(repeats):
        s = seed * 100 + r
        fold = _folds(strata, OUTER, np.random.default_rng(s))
        dec, prob = np.zeros(y.size, dtype=np.int64), np.zeros(y.size)
        for f in range(OUTER):
            te, tr = fold == f, fold != f
            inner = np.mean([_oof(x[tr], y[tr], strata[tr], INNER, s + 1000 * (f + 1) + 7 * k)
                             for k in range(INNER_REPEATS)], axis=0)
            th = pick_thresholds(inner, y[tr], types[tr], ALARM_TYPES)
            prob[te] = predict(fit(x[tr], y[tr], s), x[te])
            dec[te] = (prob[te] >= np.array([th[t] for t in types[te]])).astype(np.int64)
        decisions.append(dec)
        if r == 0:
            first_prob = prob
    return decisions, first_prob


def summarize(decisions: list[NDArray[np.int64]], data: Dataset) -> dict[str, Any]:
    """Mean and spread over repeats of the challenge score, TPR, TNR: all, 's', 'l', per type."""
    _, y, types, names = data
    short = np.array([n.endswith("s") for n in names])
    groups: dict[str, NDArray[np.bool_]] = {"all": np.ones(y.size, bool), "s": short, "l": ~short}
    for t in ALARM_TYPES:
        for g, m in (("s", short), ("l", ~short), ("all", np.ones(y.size, bool))):
            groups[f"{t}/{g}"] = (types == t) & m
    out: dict[str, Any] = {}
    for g, m in groups.items():
        per = [challenge_score(d[m], y[m]) for d in decisions]
        out[g] = {k: float(np.nanmean([p[k] for p in per])) for k in ("score", "tpr", "tnr", "tp", "tn", "fp", "fn")}
        out[g]["score_sd"] = float(np.std([p["score"] for p in per]))
        out[g]["n"] = int(m.sum())
        out[g]["true"] = int(y[m].sum())
    return out


#: The reproduction check's subset: every CHECK_STEP-th record in name order.
CHECK_STEP = 4


def _check(det: AlarmVerifier, data: Dataset) -> dict[str, Any]:
    """The shipped model's (in-sample) result on a fixed subset, recomputed by the unit tests."""
    x, y, types, names = data
    sel = np.arange(0, y.size, CHECK_STEP)
    prob = det.probabilities(x[sel])
    dec = np.array([det.decide(float(p), str(t)) for p, t in zip(prob, types[sel])], dtype=np.int64)
    return {"subset": f"every {CHECK_STEP}th record in name order", "records": [str(n) for n in names[sel]],
            "decisions": dec.tolist(), "score": challenge_score(dec, y[sel])["score"]}


def train(data_dir: Path, out_dir: Path, seed: int, echo: Echo) -> dict[str, Any]:
    """Cross-validate, then fit and write ``alarm_verifier.pt`` and ``alarm_verifier.json`` to ``out_dir``."""
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    data = load_dataset(data_dir, echo)
    x, y, types, names = data
    echo(f"cross-validating ({REPEATS} x {OUTER} folds by record, inner {INNER}-fold thresholds) ...")
    decisions, oof = cross_validate(data, seed)
    cv = summarize(decisions, data)
    thresholds = pick_thresholds(oof, y, types, ALARM_TYPES)
    ens = fit(x, y, seed)
    in_sample = predict(ens, x)
    dec = (in_sample >= np.array([thresholds[t] for t in types])).astype(np.int64)
    blob = {"format": 1, "feature_names": list(FEATURE_NAMES), "hidden": HIDDEN,
            "mean": torch.as_tensor(ens.mean), "scale": torch.as_tensor(ens.scale),
            "members": [m.state_dict() for m in ens.members], "thresholds": thresholds,
            "window_s": AlarmVerifier.WINDOW_S}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(blob, out_dir / "alarm_verifier.pt")
    check = _check(AlarmVerifier(device="cpu", weights=out_dir / "alarm_verifier.pt"), data)
    metrics = {"cv": cv, "repeats": REPEATS, "folds": OUTER, "seed": seed, "thresholds": thresholds,
               "in_sample": challenge_score(dec, y), "records": int(y.size), "check": check,
               "train_seconds": round(time.perf_counter() - t0, 1)}
    (out_dir / "alarm_verifier.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    echo(f"CV score all {cv['all']['score']:.2f}, 's' {cv['s']['score']:.2f}, 'l' {cv['l']['score']:.2f}; "
         f"weights in {out_dir}")
    return {"cv_score_all": cv["all"]["score"], "cv_score_s": cv["s"]["score"], "cv_score_l": cv["l"]["score"],
            "thresholds": thresholds, "in_sample_score": metrics["in_sample"]["score"]}
