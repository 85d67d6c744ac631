"""Beat-free alarm evidence (``alarm_spectral``): synthetic signals with known answers, and real 2015 records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from wardwatch.models.detectors.alarm_evidence import FEATURE_NAMES, alarm_features, channel_evidence
from wardwatch.models.detectors.alarm_records import read_verdicts, read_window
from wardwatch.models.detectors.alarm_spectral import ecg_flat_s, ecg_lf_share, pulse_min_ratio, pulse_regularity
from wardwatch.models.detectors.alarm_verifier import AlarmVerifier

FS = 250
DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "challenge2015"
T = np.arange(30 * FS) / FS
START = 18 * FS  # the last 12 s


def _narrow_qrs(rate_hz: float) -> np.ndarray:
    """Sinus-like ECG: 20-ms Gaussian spikes (mV) at ``rate_hz``, a little noise."""
    beats = np.arange(0.3, 30, 1.0 / rate_hz)
    rng = np.random.default_rng(0)
    return sum(np.exp(-((T - b) ** 2) / (2 * 0.008**2)) for b in beats) + 0.005 * rng.standard_normal(T.size)


def test_flat_ecg_pause_is_measured_without_beat_detection() -> None:
    ecg = _narrow_qrs(1.2)
    assert ecg_flat_s(ecg, START) < 1.2  # normal rhythm: only the gaps between beats
    paused = ecg.copy()
    paused[22 * FS:29 * FS] = 0.005 * np.random.default_rng(1).standard_normal(7 * FS)
    assert 6.0 < ecg_flat_s(paused, START) < 8.0


def test_low_frequency_share_separates_wide_slow_waves_from_narrow_complexes() -> None:
    narrow = ecg_lf_share(_narrow_qrs(1.2), START)
    vt_like = ecg_lf_share(np.sin(2 * np.pi * 3.0 * T), START)  # 180 /min sinusoidal ventricular rhythm
    assert vt_like > 0.95 and narrow < 0.5


def test_pulse_that_stops_in_the_region_and_regularity() -> None:
    pulse = np.sin(2 * np.pi * 1.2 * T)
    assert abs(pulse_min_ratio(pulse, START)) < 0.5 and pulse_regularity(pulse) > 0.8
    stopped = pulse.copy()
    stopped[25 * FS:] *= 0.01
    assert pulse_min_ratio(stopped, START) < -5
    noise = np.random.default_rng(2).standard_normal(T.size)
    assert pulse_regularity(noise) < 0.4


def _window(name: str) -> np.ndarray:
    if not (DATA / f"{name}.hea").is_file():
        pytest.fail(f"recording missing: {(DATA / name).resolve()} (../shared/data/challenge2015 must be present)")
    return read_window(DATA / name, AlarmVerifier.WINDOW_S)


def test_real_records_true_asystole_and_true_vt_versus_false_ones() -> None:
    verdicts = read_verdicts(DATA)
    assert verdicts["a161l"][1] == 1 and verdicts["a705l"][1] == 0
    asys, not_asys = channel_evidence(_window("a161l")), channel_evidence(_window("a705l"))
    assert min(asys["ecg1"]["flat_s"], asys["ecg2"]["flat_s"]) > 4.0  # a pause in both leads
    assert max(not_asys["ecg1"]["flat_s"], not_asys["ecg2"]["flat_s"]) < 1.5
    assert verdicts["v132s"][1] == 1 and verdicts["v100s"][1] == 0
    vt, not_vt = channel_evidence(_window("v132s")), channel_evidence(_window("v100s"))
    assert max(vt["ecg1"]["lf_share"], vt["ecg2"]["lf_share"]) > 0.9
    assert max(not_vt["ecg1"]["lf_share"], not_vt["ecg2"]["lf_share"]) < 0.6


def test_beat_free_block_is_the_end_of_the_feature_vector() -> None:
    ev = channel_evidence(_window("a161l"))
    x = dict(zip(FEATURE_NAMES, alarm_features(ev, "Asystole")))
    assert x["ecg_flat_s_min"] == pytest.approx(min(ev["ecg1"]["flat_s"], ev["ecg2"]["flat_s"]))
    assert x["pulse_min_ratio"] == pytest.approx(ev["pleth"]["min_ratio"])  # no ABP on this bed
    assert FEATURE_NAMES[-6:] == ("ecg_flat_s_min", "ecg_flat_s_max", "ecg_lf_share_max", "ecg_lf_share_min",
                                  "pulse_min_ratio", "pulse_regularity")
