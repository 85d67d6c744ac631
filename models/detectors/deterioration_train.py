"""Train and evaluate the deterioration detector on simulated wards; ``wardwatch train deterioration``.

Data: scripted wards (:mod:`wardwatch.streams.scenarios`) generated in-process, numerics only, 16
beds x 4 h each. A quarter of the beds get a sepsis-like deterioration with random onset
(20-60 min), ramp (1.5-3.5 h) and magnitude (0.35-1.2 x the ``sepsis`` scenario's changes); a
quarter get other events (desaturation, bradycardia, new AF, VT run, asystole, motion, probe/lead
off, dropout, battery low: negatives); half stay stable. Three beds in ten have an abnormal but
stable baseline (tachycardic, tachypnoeic, low SpO2: NEWS2 often >= 5 without worsening). Records go
through the score agent's pure core (:class:`~wardwatch.models.scoring.PatientScorer`) and
:class:`~wardwatch.models.detectors.deterioration.MinuteWindows`, exactly as in the live pipeline.

Row labels (training only): 1 once the scripted change has reached a quarter of the full sepsis
pattern, ignored between onset and that point, 0 elsewhere. Train wards: seeds 1000-1003; test
wards: seeds 2000-2001 (other baselines, noise and event draws), plus the shipped scenario files
never seen in training (``demo-ward`` seeds 42-44, ``sepsis`` alone seeds 42-44) and the MIMIC-II
numerics (no labels). Alarms: the detector's rule from ``ward-default.yaml`` against NEWS2 >= 5
alone, both through the real alarm engine (:class:`~wardwatch.alerting.burden.BurdenSimulator`).
"""

from __future__ import annotations

import logging
import math
import os
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from wardwatch.alerting.burden import START_NS, BurdenSimulator, Source, open_source, scenario_source, summarize, wfdb_source
from wardwatch.alerting.config import AlarmConfig, parse_config
from wardwatch.models.detectors.deterioration import FEATURE_NAME, FEATURES, WINDOW_MIN, MinuteWindows
from wardwatch.models.scoring import PatientScorer
from wardwatch.streams.records import Features
from wardwatch.streams.scenarios.model import VITALS, Baseline, BedPlan, EventPlan, WardPlan, scenario_catalog
from wardwatch.streams.scenarios.runner import ScenarioRunner

__all__ = ["train", "make_ward", "ward_rows", "rule_sets", "evaluate_alarms", "TRAIN_SEEDS", "TEST_SEEDS", "MIMIC"]

logger = logging.getLogger(__name__)

SECRET = b"deterioration-train-0123456789"
DATA_VERSION = 1
RUN_S = 4 * 3600
BEDS = 16
TRAIN_SEEDS = (1000, 1001, 1002, 1003)
TEST_SEEDS = (2000, 2001)
SHIPPED_SEEDS = (42, 43, 44)
MIMIC = "mimic-mitdb/s00001-2896-10-10-00-31n"
EPOCHS, BATCH, LR, HIDDEN, WEIGHT_DECAY = 8, 128, 2e-3, 32, 1e-3
#: A row is "deteriorating" once the scripted change has reached this fraction of the full sepsis pattern.
POSITIVE_FRACTION = 0.4
#: Training-time masking (per window): no temperature (MIMIC-II has none), no charted events (no
#: ACVPU, no oxygen: a feed of device numerics only), and single minutes missing.
P_NO_TEMP, P_NO_CHARTED, P_MISSING_MINUTE = 0.4, 0.4, 0.05
_TEMP_COLS = [FEATURES.index(n) for n in ("input.temp_c", "news2.temperature", "temp.deviation", "temp.slope_1h_per_h")]
_CHARTED_COLS = [FEATURES.index(n) for n in ("news2.consciousness", "news2.air_or_oxygen")]
_NEGATIVE_EVENTS = ("acute-desaturation", "bradycardia", "new-af", "vt-run", "asystole", "motion-artefact", "probe-off",
                    "lead-off", "sensor-dropout", "battery-low")
_S = 1_000_000_000


def make_ward(seed: int) -> tuple[WardPlan, dict[str, tuple[float, float, float]]]:
    """A 16-bed, 4-h training or test ward; also bed -> (onset_s, ramp_s, magnitude) of its deterioration."""
    rng = np.random.default_rng(seed)
    sepsis = scenario_catalog()["sepsis"].params
    beds, truth = [], {}
    for i in range(BEDS):
        bed, events, baseline = f"{i + 1:02d}", [], Baseline()
        if rng.random() < 0.3:
            baseline = Baseline(hr_bpm=float(rng.uniform(95, 115)), rr_per_min=float(rng.uniform(19, 24)),
                                spo2_pct=float(rng.uniform(91, 95)), temp_c=float(rng.uniform(37.0, 38.0)),
                                sbp_mmhg=float(rng.uniform(98, 115)))
        if i % 4 == 0:
            k, ramp, onset = float(rng.uniform(0.35, 1.2)), float(rng.uniform(5400, 12600)), float(rng.uniform(1200, 3600))
            params: dict[str, Any] = {v: round(float(sepsis[v]) * k, 2) for v in VITALS if v in sepsis}
            params["ramp_s"] = ramp
            events.append(EventPlan(scenario="sepsis", onset_s=onset, duration_s=RUN_S - onset, params=params))
            truth[bed] = (onset, ramp, k)
        elif i % 4 == 1:
            for _ in range(int(rng.integers(1, 4))):
                events.append(EventPlan(scenario=str(rng.choice(_NEGATIVE_EVENTS)), onset_s=float(rng.uniform(600, RUN_S - 1200))))
        beds.append(BedPlan(bed=bed, patient=f"SIM-DET-{seed}-{bed}", baseline=baseline, events=events))
    return WardPlan(name=f"det-{seed}", seed=seed, duration_s=RUN_S, waveforms=False, beds=beds), truth


def ward_rows(seed: int) -> dict[str, np.ndarray]:
    """Every closed-minute window of one generated ward: ``X`` (n, 30, 23), ``y`` (1, 0, -1 = ignore), ``bed``, ``t_s``."""
    plan, truth = make_ward(seed)
    runner = ScenarioRunner(plan, SECRET, START_NS, waveforms=False)
    bed_of = {ref: bed for bed, ref in runner.patients.items()}
    scorers = {ref: PatientScorer(ref, plan.name, bed, None) for bed, ref in runner.patients.items()}
    windows = {ref: MinuteWindows() for ref in scorers}
    xs, ys, beds, ts = [], [], [], []
    pending = list(runner.admission_events())
    while True:
        for rec in pending:
            scorer = scorers[rec.patient_ref]
            for feature in scorer.observe(rec) if scorer.accepts(rec) else []:
                win = windows[rec.patient_ref].update(feature)
                if win is None:
                    continue
                bed = bed_of[rec.patient_ref]
                t_s = (feature.timestamp_ns // (60 * _S) * 60 * _S - START_NS) / _S  # end of the closed minute
                xs.append(win)
                ys.append(0)
                beds.append(int(bed))
                ts.append(t_s)
        if runner.second >= RUN_S:
            break
        pending = runner.step()
    rows = {"X": np.stack(xs), "bed": np.array(beds, np.int16), "t_s": np.array(ts)}
    return rows | {"y": row_labels(seed, rows)}


def row_labels(seed: int, rows: dict[str, np.ndarray]) -> np.ndarray:
    """1 once a bed's scripted deterioration reaches :data:`POSITIVE_FRACTION` of the full sepsis
    pattern; -1 (ignored) between its onset and then; 0 before the onset and on every other bed."""
    truth = make_ward(seed)[1]
    y = np.zeros(len(rows["bed"]), np.int8)
    for bed, (onset, ramp, k) in truth.items():
        sel = rows["bed"] == int(bed)
        frac = np.clip((rows["t_s"][sel] - onset) / ramp, 0.0, 1.0) * k
        y[sel] = np.where(frac >= POSITIVE_FRACTION, 1, np.where(rows["t_s"][sel] > onset, -1, 0))
    return y


def _cached_rows(seed: int) -> dict[str, np.ndarray]:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "wardwatch" / "deterioration"
    path = cache / f"ward-{seed}-v{DATA_VERSION}-f{len(FEATURES)}x{WINDOW_MIN}.npz"
    if path.is_file():
        with np.load(path) as z:
            rows = {k: z[k] for k in z.files if k != "y"}
        return rows | {"y": row_labels(seed, rows)}
    rows = ward_rows(seed)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **rows)
    return rows


def _mask(x: Any, gen: Any) -> Any:
    """Training-time masking of a batch (see :data:`P_NO_TEMP` and its neighbours)."""
    import torch

    n = x.shape[0]
    nan = torch.tensor(float("nan"))
    for cols, p in ((_TEMP_COLS, P_NO_TEMP), (_CHARTED_COLS, P_NO_CHARTED)):
        rows = torch.rand(n, generator=gen) < p
        x[rows.nonzero().squeeze(1).unsqueeze(1), :, torch.tensor(cols)] = nan
    x[torch.rand(n, x.shape[1], generator=gen) < P_MISSING_MINUTE] = nan
    return x


def _fit(X: np.ndarray, y: np.ndarray, seed: int, echo: Callable[[str], Any]) -> Any:
    import torch

    from wardwatch.models.detectors.deterioration import build_net

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    net = build_net(HIDDEN)
    opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.float32))
    gen = torch.Generator().manual_seed(seed)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    for epoch in range(EPOCHS):
        net.train()
        order = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for start in range(0, len(order), BATCH):
            idx = order[start:start + BATCH]
            xb = _mask(xt[idx].clone(), gen)
            opt.zero_grad()
            loss = loss_fn(net(xb), yt[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        echo(f"  epoch {epoch + 1:2d}/{EPOCHS}: loss {total / len(xt):.4f}")
    return net.eval()


# --- alarms: the detector's rule against NEWS2 >= 5 alone -------------------------------------

def rule_sets() -> dict[str, AlarmConfig]:
    """``news2>=5``: the shipped NEWS2 rule with its bands only (no single-parameter-3 alarm);
    ``detector``: the shipped ``detector.deterioration`` rule. Both from ``ward-default.yaml``."""
    from importlib import resources

    doc = yaml.safe_load(resources.files("wardwatch.alerting").joinpath("defaults/ward-default.yaml").read_text("utf-8"))
    rules = {r["id"]: r for r in doc["rules"]}
    news2 = {k: v for k, v in rules["news2"].items() if k != "single_parameter_3"} | {"single_parameter_3": None}
    return {"news2>=5": parse_config({"rules": [news2]}, "news2>=5"),
            "detector": parse_config({"rules": [rules["detector.deterioration"]]}, "detector")}


class _DetectingSimulator(BurdenSimulator):
    """The alarm-burden simulator plus the detect agent: detector Features once a minute per patient."""

    def __init__(self, detector: Any, configs: dict[str, AlarmConfig]) -> None:
        super().__init__(configs, tick_s=2.0, waveforms=False)
        self.detector = detector
        self.windows: dict[str, MinuteWindows] = {}
        self.scores: list[float] = []

    def _derive(self, p: Any, record: Any) -> list[Any]:
        items = super()._derive(p, record)
        out = list(items)
        for item in items:
            if isinstance(item, Features):
                win = self.windows.setdefault(item.patient_ref, MinuteWindows()).update(item)
                if win is not None:
                    score = float(self.detector.score(win[None])[0])
                    if not math.isnan(score):
                        self.scores.append(score)
                        out.append(Features(patient_ref=item.patient_ref, ward=item.ward, bed=item.bed, timestamp_ns=item.timestamp_ns,
                                            source="detector", values={FEATURE_NAME: score}))
        return out


def _source(kind: str, seed: int | None, data_dir: Path) -> Source:
    if kind == "test-ward":
        return scenario_source(make_ward(int(seed))[0], SECRET, name=f"test ward {seed}", waveforms=False)  # type: ignore[arg-type]
    if kind == "mimic":
        return wfdb_source(str((data_dir / MIMIC).resolve()), SECRET, waveforms=False)
    return open_source(kind, SECRET, seed=seed, waveforms=False)


def evaluate_alarms(job: tuple[str, int | None, str, str]) -> dict[str, Any]:
    """One source through both rule sets (run in a worker process): counts and per-label outcomes."""
    import torch

    from wardwatch.models.detectors.deterioration import DeteriorationDetector

    torch.set_num_threads(1)
    logging.getLogger("wardwatch.alerting").setLevel(logging.WARNING)  # one line per alarm state change otherwise
    kind, seed, weights, data_dir = job
    src = _source(kind, seed, Path(data_dir))
    configs = rule_sets()
    sim = _DetectingSimulator(DeteriorationDetector(weights, device="cpu"), configs)
    for batch in src.batches:
        sim.feed(batch)
    sim.finish(src.end_ns)
    out: dict[str, Any] = {"source": f"{src.name} seed {seed}", "patient_days": sum(src.monitored_s.values()) / 86_400.0}
    for name, catch in (("news2>=5", "news2"), ("detector", "detector.deterioration")):
        s = summarize(name, sim.alarms[name], src, catches={"sepsis_deterioration": (catch,)})
        events = [o for o in s.outcomes if o.label.label == "sepsis_deterioration"]
        out[name] = {"alarms": s.alarms, "outside_labels": s.outside_labels if s.labelled else None,
                     "events": [(o.label.patient_ref, o.delay_s) for o in events]}
    return out


def _pool(jobs: list[Any], fn: Callable[[Any], Any], workers: int) -> list[Any]:
    if workers <= 1:
        return [fn(j) for j in jobs]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, jobs))


def summarize_alarms(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Pool sources: alarms per patient-day, sensitivity, delays after onset, lead over NEWS2 >= 5."""
    days = sum(r["patient_days"] for r in results)
    out: dict[str, Any] = {"patient_days": round(days, 3)}
    delays: dict[str, dict[str, float]] = {}
    for name in ("news2>=5", "detector"):
        alarms = sum(r[name]["alarms"] for r in results)
        events = [e for r in results for e in r[name]["events"]]
        caught = [d for _, d in events if not math.isnan(d)]
        delays[name] = {f"{r['source']}|{ref}": d for r in results for ref, d in r[name]["events"]}
        false = [r[name]["outside_labels"] for r in results if r[name]["outside_labels"] is not None]
        out[name] = {"alarms": alarms, "alarms_per_patient_day": round(alarms / days, 2) if days else None,
                     "events": len(events), "caught": len(caught),
                     "sensitivity": round(len(caught) / len(events), 3) if events else None,
                     "median_delay_min": round(statistics.median(caught) / 60, 1) if caught else None,
                     "outside_labels": sum(false) if false else None}
    both = [delays["news2>=5"][k] - d for k, d in delays["detector"].items()
            if not math.isnan(d) and not math.isnan(delays["news2>=5"].get(k, math.nan))]
    only_det = sum(1 for k, d in delays["detector"].items() if not math.isnan(d) and math.isnan(delays["news2>=5"].get(k, math.nan)))
    out["lead_over_news2"] = {"both_caught": len(both), "median_lead_min": round(statistics.median(both) / 60, 1) if both else None,
                              "detector_first": sum(1 for x in both if x > 0), "caught_by_detector_only": only_det}
    return out


def train(data_dir: Path, out_dir: Path, seed: int, echo: Callable[[str], Any]) -> dict[str, Any]:
    """Generate the wards, train, evaluate; write ``deterioration.pt`` and ``deterioration.json`` into ``out_dir``."""
    import json

    import torch
    from sklearn.metrics import roc_auc_score

    t0 = time.perf_counter()
    workers = 2 if (os.cpu_count() or 1) >= 2 else 1
    echo(f"generating {len(TRAIN_SEEDS) + len(TEST_SEEDS)} wards x {BEDS} beds x {RUN_S // 3600} h (cached after the first run)")
    rows = dict(zip(TRAIN_SEEDS + TEST_SEEDS, _pool(list(TRAIN_SEEDS + TEST_SEEDS), _cached_rows, workers)))
    X = np.concatenate([rows[s]["X"] for s in TRAIN_SEEDS])
    y = np.concatenate([rows[s]["y"] for s in TRAIN_SEEDS])
    keep = y >= 0
    echo(f"training on {int(keep.sum())} windows ({int((y == 1).sum())} deteriorating) from seeds {TRAIN_SEEDS}")
    net = _fit(X[keep], y[keep], seed, echo)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / "deterioration.pt"
    torch.save(net.state_dict(), weights)
    Xt = np.concatenate([rows[s]["X"] for s in TEST_SEEDS])
    yt = np.concatenate([rows[s]["y"] for s in TEST_SEEDS])
    from wardwatch.models.detectors.deterioration import DeteriorationDetector

    p = DeteriorationDetector(weights, device="cpu").score(Xt)
    ok = (yt >= 0) & np.isfinite(p)
    metrics: dict[str, Any] = {"window_auroc_test": round(float(roc_auc_score(yt[ok], p[ok])), 4), "test_windows": int(ok.sum())}
    echo(f"test windows: AUROC {metrics['window_auroc_test']}; alarms on the test sources ...")
    data = str(data_dir)
    groups = {"test wards (seeds 2000-2001, 32 beds x 4 h)": [("test-ward", s, str(weights), data) for s in TEST_SEEDS],
              "sepsis scenario alone (seeds 42-44)": [("sepsis", s, str(weights), data) for s in SHIPPED_SEEDS],
              "demo ward (8 beds x 1 h, seeds 42-44)": [("demo-ward", s, str(weights), data) for s in SHIPPED_SEEDS],
              "MIMIC-II numerics (32 h, no labels)": [("mimic", None, str(weights), data)]}
    jobs = [j for js in groups.values() for j in js]
    results = _pool(jobs, evaluate_alarms, workers)
    it = iter(results)
    metrics["alarms"] = {title: summarize_alarms([next(it) for _ in js]) for title, js in groups.items()}
    metrics.update(seed=seed, train_seeds=list(TRAIN_SEEDS), test_seeds=list(TEST_SEEDS), epochs=EPOCHS, hidden=HIDDEN,
                   weight_decay=WEIGHT_DECAY, positive_fraction=POSITIVE_FRACTION,
                   masking={"no_temperature": P_NO_TEMP, "no_charted": P_NO_CHARTED, "missing_minute": P_MISSING_MINUTE},
                   features=list(FEATURES), window_min=WINDOW_MIN, train_windows=int(keep.sum()),
                   torch=torch.__version__, seconds=round(time.perf_counter() - t0, 1))
    (out_dir / "deterioration.json").write_text(json.dumps(metrics, indent=2, default=float) + "\n")
    echo(f"done in {metrics['seconds']} s")
    return metrics
