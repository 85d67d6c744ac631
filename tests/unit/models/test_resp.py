from __future__ import annotations

import numpy as np
import pytest

from wardwatch.models.signal import resp_rate_from_ecg, resp_rate_from_ppg, respiration_rate_bpm


@pytest.mark.parametrize("rate", [8.0, 16.0, 28.0])
@pytest.mark.parametrize("method", ["spectral", "count"])
def test_rate_of_a_sine_with_noise(rate: float, method: str) -> None:
    fs = 25.0
    t = np.arange(int(60 * fs)) / fs
    resp = 3.0 + np.sin(2 * np.pi * rate / 60 * t) + np.random.default_rng(7).normal(0, 0.1, t.size)
    assert respiration_rate_bpm(resp, fs, method=method) == pytest.approx(rate, abs=0.5)


def test_ppg_surrogate_follows_modulated_pulses() -> None:
    fs, rate, breaths = 125.0, 75.0, 12.0
    t = np.arange(int(60 * fs)) / fs
    breathing = np.sin(2 * np.pi * breaths / 60 * t)
    phase = (t * rate / 60 + 0.02 * np.cumsum(breathing) / fs) % 1.0  # sinus arrhythmia
    pulse = np.exp(-((phase - 0.2) ** 2) / 0.006)
    pleth = 2.0 + 0.1 * breathing * 0.2 + 0.05 * (1 + 0.3 * breathing) * pulse  # baseline + amplitude
    assert resp_rate_from_ppg(pleth, fs) == pytest.approx(breaths, abs=1.0)


def test_ecg_surrogate_follows_r_amplitude_and_sinus_arrhythmia() -> None:
    fs, breaths = 250.0, 18.0
    t = np.arange(int(60 * fs)) / fs
    nominal = np.arange(0.3, 59.7, 60 / 70)
    beats = nominal + 0.03 * np.sin(2 * np.pi * breaths / 60 * nominal)  # RR varies with breathing
    amp = 1 + 0.2 * np.sin(2 * np.pi * breaths / 60 * beats)
    ecg = sum(a * np.exp(-((t - b) ** 2) / (2 * 0.01**2)) for a, b in zip(amp, beats))
    assert resp_rate_from_ecg(ecg, fs) == pytest.approx(breaths, abs=1.0)


def test_short_flat_or_bad_windows_give_nan() -> None:
    fs = 25.0
    assert np.isnan(respiration_rate_bpm(np.sin(np.arange(100)), fs))  # 4 s: too short
    assert np.isnan(respiration_rate_bpm(np.zeros(1500), fs))
    assert np.isnan(respiration_rate_bpm(np.full(1500, np.nan), fs))
    assert np.isnan(resp_rate_from_ppg(np.zeros(7500), 125.0))
    assert np.isnan(resp_rate_from_ecg(np.zeros(15000), 250.0))
    with pytest.raises(ValueError, match="method"):
        respiration_rate_bpm(np.sin(np.arange(1500) / 10), fs, method="fourier")  # type: ignore[arg-type]
