from __future__ import annotations

import numpy as np
import pytest

from wardwatch.models.signal import (
    MOTION_THRESHOLD_MS2,
    RollingStats,
    StreamingMotionMeter,
    is_motion,
    match_beats,
    motion_level_ms2,
)

G = 9.81


def _accel(fs: float, seconds: float, moving: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fs)) / fs
    noise = [rng.normal(0, 0.02, t.size) for _ in range(3)]  # sensor noise of a resting wearable
    x, y, z = noise[0], noise[1] + 0.3, noise[2] + np.sqrt(G**2 - 0.09)  # tilted, at rest
    if moving:  # arm swing at 1.8 Hz plus jolts
        x = x + 1.5 * np.sin(2 * np.pi * 1.8 * t)
        z = z + 2.0 * np.sin(2 * np.pi * 3.6 * t + 0.4) + rng.normal(0, 0.5, t.size)
    return x, y, z


def test_motion_level_is_higher_under_movement() -> None:
    fs = 50.0
    rest = motion_level_ms2(*_accel(fs, 10, moving=False), fs)
    move = motion_level_ms2(*_accel(fs, 10, moving=True), fs)
    assert rest < 0.1 < MOTION_THRESHOLD_MS2 < move
    assert not is_motion(rest) and is_motion(move) and not is_motion(float("nan"))


def test_streaming_motion_meter_matches_whole_window() -> None:
    fs = 50.0
    x, y, z = _accel(fs, 8, moving=True, seed=2)
    whole = StreamingMotionMeter(fs).filtered(x, y, z)
    meter = StreamingMotionMeter(fs)
    parts = [meter.filtered(x[k:k + 50], y[k:k + 50], z[k:k + 50]) for k in range(0, x.size, 50)]
    assert np.array_equal(np.concatenate(parts), whole)
    assert np.isnan(StreamingMotionMeter(fs).process([], [], []))
    with pytest.raises(ValueError, match="same length"):
        meter.process([1.0], [1.0, 2.0], [1.0])


def test_rolling_stats_match_numpy_on_random_streams() -> None:
    rng = np.random.default_rng(11)
    window_s = 30.0
    stats = RollingStats(window_s)
    times = np.cumsum(rng.uniform(0.1, 2.0, 600))
    values = rng.normal(80, 10, times.size)
    values[rng.integers(0, times.size, 20)] = rng.uniform(150, 250, 20)  # outliers
    values[5] = np.nan  # ignored
    for t, v in zip(times, values):
        stats.add(int(t * 1e9), v)
        inside = (times > t - window_s) & (times <= t) & np.isfinite(values)
        ref = values[inside]
        assert len(stats) == ref.size
        assert stats.median() == pytest.approx(np.median(ref))
        mad = np.median(np.abs(ref - np.median(ref)))
        assert stats.mad(scaled=False) == pytest.approx(mad)
        assert stats.mad() == pytest.approx(1.4826 * mad, rel=1e-4)
        q75, q25 = np.percentile(ref, [75, 25])
        assert stats.iqr() == pytest.approx(q75 - q25)


def test_rolling_stats_late_values_and_empty_window() -> None:
    stats = RollingStats(10)
    assert np.isnan(stats.median()) and np.isnan(stats.mad()) and np.isnan(stats.iqr())
    stats.add(20_000_000_000, 5.0)
    stats.add(15_000_000_000, 7.0)  # late but inside the window: kept
    stats.add(5_000_000_000, 100.0)  # older than the window: dropped
    assert sorted(stats.values().tolist()) == [5.0, 7.0] and stats.median() == 6.0
    stats.add(26_000_000_000, 9.0)  # expires the value stamped 15 s
    assert stats.values().tolist() == [5.0, 9.0]
    with pytest.raises(ValueError):
        RollingStats(0)


def test_match_beats_counts_and_scoring_window() -> None:
    m = match_beats([100, 200, 300, 400], [98, 205, 260, 401, 500], tol=10)
    assert (m.tp, m.fn, m.fp) == (3, 1, 2)
    assert m.sensitivity == pytest.approx(0.75) and m.positive_predictivity == pytest.approx(0.6)
    scored = match_beats([10, 100, 200, 290], [12, 50, 101, 199, 295], tol=5, lo=20, hi=280)
    assert (scored.tp, scored.fn, scored.fp) == (2, 0, 1)  # beats at 10 and 290 are outside
    assert np.isnan(match_beats([], [], tol=3).sensitivity)
