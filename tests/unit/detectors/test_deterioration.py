"""The deterioration detector: minute windows, the detector protocol, and the shipped weights."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wardwatch.errors import ConfigurationError
from wardwatch.models.detectors import get_detector
from wardwatch.models.detectors.deterioration import FEATURES, WINDOW_MIN, DeteriorationDetector, MinuteWindows
from wardwatch.streams.records import Features

REF = "p-0123456789abcdef0123"
T0 = 1_790_000_040_000_000_000  # a whole minute
MIN = 60_000_000_000


def feat(minute: float, source: str = "news2", **values: float) -> Features:
    return Features(patient_ref=REF, ward="w", bed="01", timestamp_ns=T0 + int(minute * MIN), source=source,
                    values={k.replace("__", "."): v for k, v in values.items()})


def col(name: str) -> int:
    return FEATURES.index(name)


def test_a_window_closes_with_the_first_record_of_a_later_minute() -> None:
    w = MinuteWindows()
    assert w.update(feat(0, news2__total=1.0)) is None
    assert w.update(feat(0.5, news2__total=2.0)) is None  # the newest value in a minute wins
    assert w.update(feat(0.6, source="trends", hr__deviation=4.0)) is None
    win = w.update(feat(1.0, news2__total=3.0))
    assert win is not None and win.shape == (WINDOW_MIN, len(FEATURES))
    assert win[-1, col("news2.total")] == 2.0 and win[-1, col("hr.deviation")] == 4.0
    assert np.isnan(win[:-1]).all()
    win = w.update(feat(3.2, news2__total=5.0))  # minute 2 was silent
    assert win[-2, col("news2.total")] == 3.0 and np.isnan(win[-1]).all()


def test_other_sources_nan_values_and_replays_change_nothing() -> None:
    w = MinuteWindows()
    w.update(feat(0, news2__total=1.0))
    assert w.update(feat(5, source="ecg", hr__deviation=9.0)) is None  # not a source the model reads
    w.update(feat(0.4, news2__total=math.nan))
    assert w.update(feat(-3, news2__total=7.0)) is None  # older than the open minute
    win = w.update(feat(1, news2__total=2.0))
    assert win[-1, col("news2.total")] == 1.0


def test_state_round_trip_and_long_silence() -> None:
    w = MinuteWindows()
    for m in range(40):
        w.update(feat(m, news2__total=float(m % 7), source="news2"))
    again = MinuteWindows.from_state(w.to_state())
    a, b = w.update(feat(40, news2__total=1.0)), again.update(feat(40, news2__total=1.0))
    np.testing.assert_array_equal(a, b)
    assert a[-1, col("news2.total")] == 39 % 7 and not np.isnan(a).all(axis=1).any()
    gone = again.update(feat(40 + WINDOW_MIN + 5, news2__total=1.0))
    assert np.isnan(gone).all()  # silent longer than a window: nothing of the old rows is left
    assert MinuteWindows.from_state({**w.to_state(), "features": 3}).minute is None  # another feature list: start afresh


@pytest.fixture(scope="module")
def detector() -> DeteriorationDetector:
    det = get_detector("deterioration", device="cpu")
    assert isinstance(det, DeteriorationDetector)
    return det


def test_protocol_shapes_nan_and_batch_equals_single(detector: DeteriorationDetector) -> None:
    rng = np.random.default_rng(1)
    windows = rng.normal(size=(6, WINDOW_MIN, len(FEATURES))).astype(np.float32) * 0.5
    windows[:, :, :5] += np.array([80, 16, 95, 120, 37], np.float32)
    windows[2] = np.nan  # nothing measured
    windows[3, :-3] = np.nan  # only 3 minutes: too little to tell
    windows[4, :, 4] = np.nan  # no temperature (MIMIC-II has none): still scored
    batch = detector.score(windows)
    assert batch.shape == (6,) and batch.dtype == np.float64
    assert np.isnan(batch[2]) and np.isnan(batch[3])
    ok = np.delete(batch, [2, 3])
    assert np.all((ok >= 0) & (ok <= 1))
    single = np.array([detector.score(w[None])[0] for w in windows])
    np.testing.assert_allclose(single, batch, rtol=1e-5, equal_nan=True)
    with pytest.raises(ValueError, match="shape"):
        detector.score(np.zeros((2, WINDOW_MIN, 5), np.float32))


def test_configuration_is_checked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigurationError, match="weights"):
        DeteriorationDetector(tmp_path / "none.pt", device="cpu")
    with pytest.raises(ConfigurationError, match="min_rows"):
        DeteriorationDetector(device="cpu", min_rows=0)
    with pytest.raises(ConfigurationError, match="WARDWATCH_DETECT_DEVICE"):
        DeteriorationDetector(device="tpu")


def test_shipped_weights_alarm_earlier_than_news2_on_a_new_sepsis_and_stay_quiet_on_a_stable_bed() -> None:
    """A ward none of the training seeds made: the detector's rule, through the real alarm engine."""
    import logging

    from wardwatch.alerting.burden import scenario_source
    from wardwatch.models.detectors.deterioration_train import _DetectingSimulator, rule_sets
    from wardwatch.streams.scenarios.model import Baseline, BedPlan, EventPlan, WardPlan

    logging.getLogger("wardwatch.alerting").setLevel(logging.WARNING)
    run_s = 90 * 60
    normal = Baseline(hr_bpm=74, spo2_pct=97, rr_per_min=14, sbp_mmhg=124, dbp_mmhg=76, temp_c=36.8)
    sepsis = EventPlan(scenario="sepsis", onset_s=600, duration_s=run_s - 600, params={"ramp_s": 3600})
    plan = WardPlan(name="w", seed=7, duration_s=run_s, waveforms=False,
                    beds=[BedPlan(bed="01", patient="SIM-U-01", baseline=normal, events=[sepsis]),
                          BedPlan(bed="02", patient="SIM-U-02", baseline=normal)])
    src = scenario_source(plan, b"unit-test-secret-0123456789", waveforms=False)
    sim = _DetectingSimulator(DeteriorationDetector(device="cpu"), rule_sets())
    for batch in src.batches:
        sim.feed(batch)
    sim.finish(src.end_ns)
    det = [(a.bed, a.onset_ns) for a in sim.alarms["detector"]]
    news2 = [(a.bed, a.onset_ns) for a in sim.alarms["news2>=5"]]
    assert [bed for bed, _ in det] == ["01"], det
    onset_ns = src.end_ns - (run_s - 600) * 10**9
    assert det[0][1] > onset_ns
    assert all(bed == "01" for bed, _ in news2)
    if news2:  # NEWS2 may not reach 5 within the run; when it does, the detector came first
        assert det[0][1] < min(t for _, t in news2)


def test_committed_metrics_fewer_alarms_at_equal_or_better_sensitivity() -> None:
    """What ``wardwatch train deterioration`` wrote beside the shipped weights (the report's numbers)."""
    import json

    from wardwatch.models.detectors.deterioration import WEIGHTS

    m = json.loads(WEIGHTS.with_suffix(".json").read_text())
    assert m["window_auroc_test"] >= 0.95
    for title, a in m["alarms"].items():
        det, news2 = a["detector"], a["news2>=5"]
        assert det["alarms_per_patient_day"] <= news2["alarms_per_patient_day"], title
        if news2["events"]:
            assert det["caught"] >= news2["caught"], title
