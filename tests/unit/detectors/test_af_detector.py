"""AFDetector: the detector protocol (shapes, NaN/flat windows, batch == single), window_from_ecg,
the CPSC 2021 rhythm labelling and the honest folds of the trainer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from wardwatch.errors import ConfigurationError
from wardwatch.models.detectors import get_detector
from wardwatch.models.detectors.af import CLASSES, FS_HZ, AFDetector, record_windows, window_from_ecg

from .test_af_features import af_rr, sinus_rr, synthetic_ecg

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"


def need(relative: str) -> Path:
    path = DATA / relative
    if not path.exists():
        pytest.fail(f"recording missing: {path.resolve()} (the shared data folder ../shared/data must be present)")
    return path


@pytest.fixture(scope="module")
def det() -> AFDetector:
    return AFDetector(device="cpu")


def test_registry_builds_it_with_the_declared_shape() -> None:
    d = get_detector("af", device="cpu")
    assert isinstance(d, AFDetector)
    assert d.name == "af" and d.window_shape == (1, int(FS_HZ * 30)) and FS_HZ == 300.0


def test_score_proba_and_classes_have_the_protocol_shapes(det: AFDetector) -> None:
    windows = np.stack([window_from_ecg(synthetic_ecg(sinus_rr(40)), FS_HZ),
                        window_from_ecg(synthetic_ecg(af_rr(50), p_wave=False), FS_HZ)])
    scores = det.score(windows)
    proba = det.predict_proba(windows)
    assert scores.shape == (2,) and proba.shape == (2, 4)
    assert np.allclose(proba.sum(axis=1), 1.0) and np.all((scores >= 0) & (scores <= 1))
    assert np.array_equal(scores, proba[:, CLASSES.index("A")])
    labels = det.classify(windows)
    assert len(labels) == 2 and set(labels) <= set(CLASSES)
    assert scores[1] > scores[0]  # irregular without P waves is more AF-like than sinus


def test_nan_and_flat_windows_give_nan_and_tilde(det: AFDetector) -> None:
    n = det.window_shape[1]
    good = window_from_ecg(synthetic_ecg(sinus_rr(40)), FS_HZ)
    batch = np.stack([np.full((1, n), np.nan, np.float32), np.zeros((1, n), np.float32), good])
    scores = det.score(batch)
    assert np.isnan(scores[0]) and np.isnan(scores[1]) and np.isfinite(scores[2])
    assert det.classify(batch)[:2] == ["~", "~"]


def test_batch_equals_one_at_a_time(det: AFDetector) -> None:
    rrs = [sinus_rr(40, s) for s in range(3)] + [af_rr(50, s) for s in range(3)]
    batch = np.stack([window_from_ecg(synthetic_ecg(rr, p_wave=i < 3), FS_HZ) for i, rr in enumerate(rrs)])
    together = det.predict_proba(batch)
    alone = np.concatenate([det.predict_proba(batch[i:i + 1]) for i in range(len(batch))])
    assert np.allclose(together, alone, atol=1e-6)


def test_wrong_shape_and_missing_weights_are_clear_errors(det: AFDetector, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="windows must have shape"):
        det.score(np.zeros((2, 1, 100), np.float32))
    with pytest.raises(ConfigurationError, match="train af"):
        AFDetector(device="cpu", weights=tmp_path / "nope.pt")


def test_window_from_ecg_resamples_keeps_the_last_30_s_and_pads_short_leads() -> None:
    fs = 250.0
    t = np.arange(int(45 * fs)) / fs
    w = window_from_ecg(np.sin(2 * np.pi * 1.0 * t) + t / 100, fs)  # a 1 Hz tone on a ramp
    assert w.shape == (1, 9000) and w.dtype == np.float32 and np.all(np.isfinite(w))
    spectrum = np.abs(np.fft.rfft(w[0] - w[0].mean()))
    assert np.argmax(spectrum[1:]) + 1 == 30  # 1 Hz over 30 s: the rate survived resampling
    assert w[0, -1] == pytest.approx(np.sin(2 * np.pi * t[-1]) + t[-1] / 100, abs=0.05)  # the newest samples
    short = window_from_ecg(np.ones(int(10 * 200)), 200.0)
    assert np.isnan(short[0, :6000]).all() and np.isfinite(short[0, 6000:]).all()
    assert record_windows(np.ones(int(75 * FS_HZ))).shape == (3, 1, 9000)  # 0-30, 30-60, 45-75 s
    with pytest.raises(ValueError, match="fs_hz"):
        window_from_ecg(np.ones(10), 0.0)


def test_cpsc_rhythm_annotations_become_af_spans() -> None:
    from wardwatch.models.detectors.af_train import _af_intervals

    persistent = str(need("cpsc2021/data_8_2.hea"))[:-4]
    [(start, end)] = _af_intervals(persistent, 43092)
    assert start == 0 and end >= 43092 - 2  # AF from the first sample to the last
    paroxysmal = str(need("cpsc2021/data_101_6.hea"))[:-4]
    spans = _af_intervals(paroxysmal, 22355)
    assert len(spans) == 4 and all(a < b for a, b in spans)
    assert spans[0][0] == pytest.approx(15.7 * 200, abs=40)
    assert _af_intervals(str(need("cpsc2021/data_21_7.hea"))[:-4], 47201) == []


def test_folds_never_split_a_record_or_a_cpsc_patient() -> None:
    from wardwatch.models.detectors.af_train import _folds

    records = np.array(["A1", "A1", "A2", "A3", "A4", "data_8_2:I", "data_8_3:II", "data_21_7:I", "data_35_4:I",
                        "data_101_6:II", "data_101_9:I"])
    ds = {"record": records, "dataset": np.array(["cinc2017"] * 5 + ["cpsc2021"] * 6),
          "y": np.array([0, 0, 1, 2, 0, 1, 1, 0, 0, 1, 0])}
    fold = _folds(ds, 4, seed=0)

    def group(r: str) -> str:  # the patient for CPSC (data_<patient>_<record>:<lead>), else the record
        return r.split("_")[1] if r.startswith("data_") else r

    for key in set(map(group, records)):
        assert len({int(f) for r, f in zip(records, fold) if group(r) == key}) == 1, key
    assert len({int(f) for r, f in zip(records, fold) if r.startswith("data_")}) == 4  # one patient per fold
