from __future__ import annotations

import numpy as np
import pytest

from wardwatch.models.signal import (
    StreamingPulseDetector,
    detect_pulses,
    detect_qrs,
    heart_rate_bpm,
    perfusion_index_pct,
    ppg_sqi,
    pulse_rate_bpm,
)

from .conftest import need


def _pleth(rate_bpm: float, fs_hz: float, seconds: float, dc: float = 1.5, ac: float = 0.06) -> np.ndarray:
    """A pulse train: systolic wave 150 ms after the foot, a dicrotic wave 320 ms after the
    systolic peak (its timing is set by the ejection time, not the rate); peak-to-foot = ac."""
    t = np.arange(int(seconds * fs_hz)) / fs_hz
    since = (t % (60.0 / rate_bpm)) - 0.15  # seconds from the systolic peak
    wave = np.exp(-(since**2) / (2 * 0.06**2)) + 0.3 * np.exp(-((since - 0.32) ** 2) / (2 * 0.05**2))
    wave = (wave - wave.min()) / np.ptp(wave)
    return dc + ac * wave


@pytest.mark.parametrize("rate", [48.0, 84.0, 150.0])
def test_pulse_rate_of_a_synthetic_pleth(rate: float) -> None:
    fs = 125.0
    x = _pleth(rate, fs, 30) + np.random.default_rng(3).normal(0, 0.002, int(30 * fs))
    pulses = detect_pulses(x, fs)
    assert pulse_rate_bpm(pulses.peaks, fs) == pytest.approx(rate, rel=0.02)
    assert pulses.peaks.size == pytest.approx(30 * rate / 60, abs=2)  # no dicrotic double counts
    assert np.all(pulses.feet < pulses.peaks)


def test_streaming_pulses_equal_whole_record() -> None:
    fs = 125.0
    x = _pleth(72, fs, 40) + np.random.default_rng(4).normal(0, 0.004, int(40 * fs))
    whole = detect_pulses(x, fs)
    for chunk in (int(fs), 11, int(2.3 * fs)):
        det = StreamingPulseDetector(fs)
        parts = [det.process(x[k:k + chunk]) for k in range(0, x.size, chunk)] + [det.flush()]
        assert np.array_equal(np.concatenate([p.peaks for p in parts]), whole.peaks)
        assert np.array_equal(np.concatenate([p.feet for p in parts]), whole.feet)


def test_pulse_rate_on_real_pleth_matches_ecg_heart_rate() -> None:
    import wfdb

    rec = wfdb.rdrecord(str(need("challenge2015/b308s.hea"))[:-4], sampto=250 * 30)
    fs = float(rec.fs)
    pleth = rec.p_signal[:, rec.sig_name.index("PLETH")]
    ecg = rec.p_signal[:, rec.sig_name.index("II")]
    pulses = detect_pulses(pleth, fs)
    assert pulse_rate_bpm(pulses.peaks, fs) == pytest.approx(heart_rate_bpm(detect_qrs(ecg, fs), fs), abs=2)
    assert ppg_sqi(pleth, fs, pulses) > 0.9


def test_perfusion_index_is_ac_over_dc() -> None:
    fs = 125.0
    x = _pleth(70, fs, 20, dc=2.0, ac=0.05)
    pi = perfusion_index_pct(x, detect_pulses(x, fs))
    assert pi == pytest.approx(100 * 0.05 / np.mean(x), rel=0.05)


def test_ppg_quality_falls_with_noise() -> None:
    fs = 125.0
    x = _pleth(70, fs, 30)
    noisy = x + np.random.default_rng(5).normal(0, 0.05, x.size)
    assert ppg_sqi(x, fs) > 0.95
    assert ppg_sqi(noisy, fs) < ppg_sqi(x, fs) - 0.2


def test_flat_and_empty_pleth_give_nan() -> None:
    fs = 125.0
    assert detect_pulses(np.zeros(0), fs).peaks.size == 0
    flat = np.full(2000, 1.2)
    pulses = detect_pulses(flat, fs)
    assert pulses.peaks.size == 0
    assert np.isnan(pulse_rate_bpm(pulses.peaks, fs))
    assert np.isnan(perfusion_index_pct(flat, pulses))
    assert np.isnan(ppg_sqi(flat, fs))
