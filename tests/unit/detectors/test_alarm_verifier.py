"""The alarm verifier's detector protocol, on real 2015 windows and the shipped weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from wardwatch.errors import ConfigurationError
from wardwatch.models.detectors import get_detector
from wardwatch.models.detectors.alarm_records import read_window
from wardwatch.models.detectors.alarm_verifier import ALARM_TYPES, AlarmVerifier, from_channels

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "challenge2015"
RECORDS = [("a161l", "Asystole"), ("b349l", "Bradycardia"), ("t107l", "Tachycardia"), ("v131l", "Ventricular_Tachycardia")]


@pytest.fixture(scope="module")
def det() -> AlarmVerifier:
    d = get_detector("alarm-verifier", device="cpu")
    assert isinstance(d, AlarmVerifier)
    return d


@pytest.fixture(scope="module")
def windows() -> np.ndarray:
    for name, _ in RECORDS:
        if not (DATA / f"{name}.hea").is_file():
            pytest.fail(f"recording missing: {(DATA / name).resolve()}")
    return np.stack([read_window(DATA / n, AlarmVerifier.WINDOW_S) for n, _ in RECORDS])


def test_class_constants() -> None:
    assert AlarmVerifier.name == "alarm-verifier"
    assert AlarmVerifier.window_shape == (4, AlarmVerifier.WINDOW_S * 250) and AlarmVerifier.FS_HZ == 250
    assert AlarmVerifier.CHANNELS == ("ecg1", "ecg2", "pleth", "abp")


def test_batch_equals_single_and_probabilities_are_sane(det: AlarmVerifier, windows: np.ndarray) -> None:
    types = [t for _, t in RECORDS]
    batch = det.verify(windows, types)
    assert batch.shape == (len(RECORDS),) and batch.dtype == np.float64
    assert np.all((batch >= 0) & (batch <= 1))
    single = np.array([det.verify(w[None], [t])[0] for w, t in zip(windows, types)])
    np.testing.assert_allclose(batch, single, rtol=1e-12, atol=0)
    # a clear true asystole outranks a false bradycardia alarm, and is kept
    assert batch[0] > batch[1]
    assert det.decide(float(batch[0]), "Asystole") == 1
    assert det.decide(float(batch[2]), "Tachycardia") == 1


def test_nan_channels(det: AlarmVerifier, windows: np.ndarray) -> None:
    w = windows[:1].copy()
    w[0, 2:] = np.nan  # no PLETH, no ABP
    p = det.verify(w, ["Asystole"])
    assert np.isfinite(p[0])
    empty = np.full((1, *AlarmVerifier.window_shape), np.nan, np.float32)
    q = det.verify(empty, ["Asystole"])
    assert np.isnan(q[0]) and np.isnan(det.score(empty)[0])
    assert det.decide(float(q[0]), "Asystole") == 1  # an unverifiable alarm is kept


def test_score_protocol(det: AlarmVerifier, windows: np.ndarray) -> None:
    s = det.score(windows)
    assert s.shape == (len(RECORDS),)
    per_type = np.stack([det.verify(windows, [t] * len(RECORDS)) for t in ALARM_TYPES])
    np.testing.assert_allclose(s, per_type.max(axis=0), rtol=1e-12)
    fixed = AlarmVerifier(device="cpu", default_alarm_type="Asystole")
    np.testing.assert_allclose(fixed.score(windows), per_type[0], rtol=1e-12)


def test_bad_input_and_configuration(det: AlarmVerifier, windows: np.ndarray, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="shape"):
        det.verify(windows[:, :, :100], ["Asystole"] * len(RECORDS))
    with pytest.raises(ValueError, match="alarm types"):
        det.verify(windows, ["Asystole"])
    with pytest.raises(ValueError, match="unknown alarm type"):
        det.verify(windows[:1], ["Afib"])
    with pytest.raises(ValueError, match="unknown alarm type"):
        det.decide(0.5, "Afib")
    with pytest.raises(ConfigurationError, match="default_alarm_type"):
        AlarmVerifier(default_alarm_type="VT")
    with pytest.raises(ConfigurationError, match="WARDWATCH_DETECT_DEVICE"):
        AlarmVerifier(device="tpu")
    with pytest.raises(ConfigurationError, match="weights"):
        AlarmVerifier(weights=tmp_path / "none.pt")
    assert set(det.thresholds) == set(ALARM_TYPES)


def test_from_channels_pads_truncates_and_marks_missing() -> None:
    n = AlarmVerifier.window_shape[1]
    ecg = np.arange(n + 10, dtype=np.float64)
    short = np.ones(100)
    w = from_channels(ecg1=ecg, pleth=short)
    assert w.shape == AlarmVerifier.window_shape and w.dtype == np.float32
    assert w[0, 0] == 10 and w[0, -1] == n + 9  # the last samples, the alarm at the end
    assert np.all(np.isnan(w[1])) and np.all(np.isnan(w[3]))
    assert np.all(np.isnan(w[2, :-100])) and np.all(w[2, -100:] == 1)
    with pytest.raises(ValueError, match="one-dimensional"):
        from_channels(ecg1=np.zeros((2, 10)))
