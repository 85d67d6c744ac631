"""Per-patient trends: known slopes and levels, outliers, gaps, baseline, state round trip, memory bound."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from wardwatch.errors import SchemaValidationError
from wardwatch.models.trends import ChartedRecency, SignalTrend, theil_sen_slope
from wardwatch.streams.records import ChartedEvent

T0 = 1_790_000_020_000_000_000 - (1_790_000_020_000_000_000 % 60_000_000_000)  # on a minute boundary
S = 1_000_000_000
HR = "MDC_ECG_HEART_RATE"


def feed(trend: SignalTrend, start_s: float, end_s: float, value, step_s: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    """Feed ``value(t_s)`` every ``step_s`` seconds for t in [start_s, end_s)."""
    for t_s in np.arange(start_s, end_s, step_s):
        trend.update(T0 + round(t_s * S), float(value(t_s)))


def test_theil_sen_ignores_an_outlier_and_needs_two_times() -> None:
    t = np.arange(10.0)
    y = 3.0 * t + 1.0
    y[4] = 1000.0
    assert theil_sen_slope(t, y) == pytest.approx(3.0)
    assert math.isnan(theil_sen_slope(np.array([1.0, 1.0]), np.array([2.0, 5.0])))


@pytest.mark.parametrize("rate_per_h", [-12.0, 0.0, 6.0, 30.0])
def test_linear_series_gives_its_slope_and_change_on_every_horizon(rate_per_h: float) -> None:
    trend = SignalTrend(HR)
    feed(trend, 0, 4 * 3600, lambda t: 80.0 + rate_per_h * t / 3600)
    snap = trend.snapshot(T0 + (4 * 3600 - 5) * S)
    for label, distance_h in (("15m", 10 / 60), ("1h", 50 / 60), ("4h", 3.5)):
        # change = median of the last edge minus median of the first edge: their centres are H - E apart
        assert snap.slope_per_h[label] == pytest.approx(rate_per_h, abs=1e-9)
        assert snap.change[label] == pytest.approx(rate_per_h * distance_h, abs=1e-9)
    assert snap.points == {"15m": 15, "1h": 60, "4h": 240}
    assert snap.level == pytest.approx(80.0 + rate_per_h * (4 * 3600 - 150) / 3600, abs=0.1)


def test_outlier_samples_and_an_outlier_minute_barely_move_anything() -> None:
    clean, spiky = SignalTrend(HR), SignalTrend(HR)
    rng = np.random.default_rng(1)
    noise = rng.normal(0.0, 1.0, size=4 * 720)
    level = lambda t: 75.0 + noise[int(t // 5)]  # noqa: E731
    feed(clean, 0, 4 * 3600, level)
    spikes = {1000, 5000, 9000, 13000}

    def with_spikes(t: float) -> float:
        if int(t) in spikes:
            return 250.0  # single-sample spikes
        if 7200 <= t < 7260:
            return 180.0  # one whole minute of artefact
        return level(t)

    feed(spiky, 0, 4 * 3600, with_spikes)
    a, b = clean.snapshot(T0 + 14395 * S), spiky.snapshot(T0 + 14395 * S)
    assert abs(a.level - b.level) < 0.2
    for label in ("15m", "1h", "4h"):
        assert abs(a.slope_per_h[label] - b.slope_per_h[label]) < 0.3
    # one outlier minute moves the baseline by at most alpha * k * scale
    alpha = -math.expm1(-60 / (6 * 3600))
    assert abs(a.baseline - b.baseline) <= alpha * 2 * max(a.baseline_scale, b.baseline_scale) * 1.5
    assert abs(b.baseline - 75.0) < 0.5


def test_gap_gives_nan_where_a_segment_is_empty_and_does_not_move_the_baseline() -> None:
    trend = SignalTrend(HR)
    feed(trend, 0, 3600, lambda t: 70.0)
    before = trend.baseline
    feed(trend, 3600 + 7200, 3600 + 7200 + 600, lambda t: 100.0)  # 2 h gap, then 10 min at 100
    snap = trend.snapshot(T0 + (3600 + 7200 + 595) * S)
    assert math.isnan(snap.change["15m"])  # the first 5 min of the last 15 min are in the gap
    assert math.isnan(snap.change["1h"]) and math.isnan(snap.slope_per_h["1h"])  # 10 buckets span < 30 min
    assert math.isnan(snap.slope_per_h["15m"]) is False and snap.slope_per_h["15m"] == pytest.approx(0.0)
    assert math.isnan(snap.change["4h"])  # the 4 h start edge lies before the first sample
    assert snap.slope_per_h["4h"] == 0.0  # Theil-Sen: 60 flat minutes outvote 10 after the gap
    assert snap.points == {"15m": 10, "1h": 10, "4h": 70}
    # the baseline saw 10 minutes of 100, not 2 h 10 min: a gap does not age it
    assert before == pytest.approx(70.0)
    assert 70.0 < trend.baseline < 70.0 + 10 * 60 * 2 * 0.7 / (6 * 3600) + 1e-9
    far = trend.snapshot(T0 + 20 * 3600 * S)
    assert math.isnan(far.level) and all(math.isnan(v) for v in far.change.values()) and far.points["4h"] == 0
    assert far.baseline == trend.baseline


def test_baseline_starts_from_the_first_window_and_does_not_chase_a_deterioration() -> None:
    rng = np.random.default_rng(7)
    noise = rng.normal(0.0, 2.0, size=30 * 720)
    trend = SignalTrend(HR)
    feed(trend, 0, 14 * 60, lambda t: 70.0 + noise[int(t // 5)])
    assert math.isnan(trend.baseline)  # 14 closed minutes: the 15-minute first window is not complete
    feed(trend, 14 * 60, 3600, lambda t: 70.0 + noise[int(t // 5)])
    settled = trend.baseline
    assert settled == pytest.approx(70.0, abs=0.5)
    # heart rate rises to 110 and stays there
    feed(trend, 3600, 2 * 3600, lambda t: 110.0 + noise[int(t // 5)])
    after_1h = trend.baseline
    assert after_1h - settled < 1.0  # under 2.5 % of the 40 /min rise in the first hour
    snap = trend.snapshot(T0 + (2 * 3600 - 5) * S)
    assert snap.deviation > 38.0
    feed(trend, 2 * 3600, 30 * 3600, lambda t: 110.0 + noise[int(t // 5)])
    assert trend.baseline == pytest.approx(110.0, abs=2.0)  # a new normal is learnt within a day


def test_restored_tracker_continues_identically() -> None:
    rng = np.random.default_rng(3)
    noise = rng.normal(0.0, 1.5, size=6 * 3600)
    value = lambda t: 90.0 - 4.0 * t / 3600 + noise[int(t)]  # noqa: E731
    original = SignalTrend("MDC_RESP_RATE", baseline_tau_s=3 * 3600, scale_floor=0.5)
    feed(original, 0, 5000.5, value, step_s=1.0)  # stops inside an open minute
    state = json.loads(json.dumps(original.to_state(), allow_nan=False))  # plain, strict JSON
    restored = SignalTrend.from_state(state)
    assert restored.to_state() == original.to_state()
    for tracker in (original, restored):
        feed(tracker, 5001, 6 * 3600, value, step_s=1.0)
    assert restored.to_state() == original.to_state()
    now = T0 + (6 * 3600 - 1) * S
    a, b = original.snapshot(now), restored.snapshot(now)
    assert repr(a) == repr(b)
    assert a.slope_per_h["4h"] == pytest.approx(-4.0, abs=0.5)


def test_state_before_the_baseline_exists_round_trips() -> None:
    trend = SignalTrend(HR)
    assert SignalTrend.from_state(json.loads(json.dumps(trend.to_state(), allow_nan=False))).to_state() == trend.to_state()
    feed(trend, 0, 300, lambda t: 60.0)
    state = json.loads(json.dumps(trend.to_state(), allow_nan=False))
    assert state["baseline"] is None and len(state["init_values"]) == 4
    with pytest.raises(SchemaValidationError):
        SignalTrend.from_state({**state, "version": 99})


def test_memory_is_bounded_and_late_samples_are_counted() -> None:
    trend = SignalTrend(HR, max_samples_per_minute=30)
    feed(trend, 0, 10 * 3600, lambda t: 70.0, step_s=1.0)  # 60 samples a minute, 30 kept
    state = trend.to_state()
    assert len(state["closed_index"]) <= 241 and len(state["open_values"]) <= 30
    assert trend.overflow == 600 * 30 and trend.samples == 600 * 30
    trend.update(T0 + 3600 * S, 500.0)  # 9 h late
    trend.update(T0 + (10 * 3600 - 30) * S, math.nan)
    assert trend.late == 1 and trend.samples == 600 * 30
    assert trend.snapshot(T0 + 10 * 3600 * S - 1).level == 70.0


def test_open_minute_counts_in_snapshots() -> None:
    trend = SignalTrend(HR)
    trend.update(T0 + 10 * S, 64.0)
    trend.update(T0 + 20 * S, 66.0)
    snap = trend.snapshot(T0 + 30 * S)
    assert snap.level == 65.0 and snap.points["15m"] == 1
    assert math.isnan(snap.slope_per_h["15m"]) and math.isnan(snap.baseline) and math.isnan(snap.deviation)


def test_invalid_configuration_is_rejected() -> None:
    with pytest.raises(SchemaValidationError):
        SignalTrend(HR, baseline_tau_s=0)
    with pytest.raises(SchemaValidationError):
        SignalTrend(HR, scale_floor=-1.0)


def _event(event: str, value: str, at_s: float) -> ChartedEvent:
    return ChartedEvent(patient_ref="p-0123456789abcdef0123", ward="ward-a", bed="01", source="ehr", timestamp_ns=T0 + round(at_s * S), event=event, value=value)  # type: ignore[arg-type]


def test_charted_recency_per_kind() -> None:
    recency = ChartedRecency()
    recency.update(_event("consciousness", "A", 100))
    recency.update(_event("consciousness", "C", 700))
    recency.update(_event("consciousness", "A", 400))  # arrives late: older than what we know
    recency.update(_event("supplemental_oxygen", "on", 0))
    now = T0 + 1000 * S
    assert recency.seconds_since("consciousness", now) == 300.0
    assert recency.last_value("consciousness") == "C"
    assert recency.seconds_since("supplemental_oxygen", now) == 1000.0
    assert math.isnan(recency.seconds_since("spo2_scale", now)) and recency.last_value("spo2_scale") is None
    snap = recency.snapshot(now)
    assert set(snap) == {"supplemental_oxygen", "consciousness", "spo2_scale", "admit", "discharge", "transfer"}
    restored = ChartedRecency.from_state(json.loads(json.dumps(recency.to_state())))
    assert restored.snapshot(now) == pytest.approx(snap, nan_ok=True)
    assert restored.last_value("consciousness") == "C"
    with pytest.raises(SchemaValidationError):
        recency.seconds_since("heart_rate", now)
