from __future__ import annotations

import numpy as np
import pytest
from scipy.io import loadmat
from scipy.signal import resample_poly

from wardwatch.models.signal import (
    QRSConfig,
    StreamingQRSDetector,
    detect_qrs,
    ecg_sqi,
    heart_rate_bpm,
    match_beats,
    rr_intervals_s,
)

from .conftest import need


def _stream(x: np.ndarray, fs_hz: float, chunk: int) -> np.ndarray:
    det = StreamingQRSDetector(fs_hz)
    parts = [det.process(x[k:k + chunk]) for k in range(0, x.size, chunk)]
    parts.append(det.flush())
    return np.concatenate(parts)


def _records() -> list[tuple[str, np.ndarray, float]]:
    import wfdb

    out = []
    rec = wfdb.rdrecord(str(need("mimic-mitdb/100.hea"))[:-4], sampto=360 * 60)
    mlii = rec.p_signal[:, 0]
    out.append(("mitdb-100 360 Hz", mlii, 360.0))
    out.append(("mitdb-100 resampled 250 Hz", resample_poly(mlii, 25, 36), 250.0))
    rec = wfdb.rdrecord(str(need("cpsc2021/data_35_4.hea"))[:-4], sampto=200 * 60)
    out.append(("cpsc2021 noisy 200 Hz", rec.p_signal[:, 0], 200.0))
    ecg = loadmat(str(need("cpsc2019/data/data_00147.mat")))["ecg"].ravel().astype(np.float64)
    out.append(("cpsc2019 500 Hz", ecg, 500.0))
    rec = wfdb.rdrecord(str(need("mimic-mitdb/03700181.hea"))[:-4], sampto=125 * 60)
    out.append(("mimic MCL1 125 Hz", rec.p_signal[:, 0], 125.0))
    return out


@pytest.fixture(scope="module")
def records() -> list[tuple[str, np.ndarray, float]]:
    return _records()


def test_streaming_equals_whole_record_at_any_chunking(records: list[tuple[str, np.ndarray, float]]) -> None:
    for name, x, fs in records:
        whole = detect_qrs(x, fs)
        assert whole.size > 10, name
        for chunk in (int(fs), int(0.37 * fs), 7, int(2.5 * fs) + 3):
            streamed = _stream(x, fs, chunk)
            assert np.array_equal(streamed, whole), f"{name}, chunks of {chunk} samples"


def test_beats_are_reported_within_the_fixed_latency(records: list[tuple[str, np.ndarray, float]]) -> None:
    for name, x, fs in records:
        whole = detect_qrs(x, fs)
        det = StreamingQRSDetector(fs)
        seen: list[int] = []
        chunk = int(fs)
        start = det.config.learning_s * fs + det.lookahead_samples + chunk
        for k in range(0, x.size, chunk):
            seen.extend(det.process(x[k:k + chunk]).tolist())
            end = min(k + chunk, x.size)
            due = whole[(whole <= end - det.latency_samples) & (whole >= 0)]
            if end > start:
                assert set(due.tolist()) <= set(seen), f"{name}: beats older than the latency not yet reported at {end}"
        assert det.latency_samples < 3 * fs  # a beat is never more than 3 s late


def test_chunks_never_report_a_beat_twice_or_out_of_order(records: list[tuple[str, np.ndarray, float]]) -> None:
    name, x, fs = records[2]
    streamed = _stream(x, fs, int(fs))
    assert np.all(np.diff(streamed) >= int(0.2 * fs)), name


def test_mitdb_100_first_five_minutes(mitdb100: tuple[np.ndarray, float, np.ndarray]) -> None:
    x, fs, ref = mitdb100
    n = int(300 * fs)
    peaks = _stream(x[:n], fs, int(fs))
    m = match_beats(ref[ref < n], peaks, tol=int(round(0.15 * fs)))
    assert m.tp > 350
    assert m.sensitivity >= 0.99 and m.positive_predictivity >= 0.99, m


def test_heart_rate_of_simulated_ecg() -> None:
    import neurokit2 as nk

    fs = 250.0
    ecg = nk.ecg_simulate(duration=40, sampling_rate=int(fs), heart_rate=72, noise=0.05, random_state=42)
    peaks = detect_qrs(ecg, fs)
    assert heart_rate_bpm(peaks, fs) == pytest.approx(72, abs=2)


def test_heart_rate_and_rr_of_exact_beats() -> None:
    fs = 360.0
    t = np.arange(int(30 * fs)) / fs
    beat_times = np.arange(0.4, 29.5, 60 / 110)  # 110 /min
    ecg = sum(np.exp(-((t - b) ** 2) / (2 * 0.01**2)) - 0.2 * np.exp(-((t - b - 0.25) ** 2) / (2 * 0.05**2)) for b in beat_times)
    peaks = detect_qrs(ecg, fs)
    assert peaks.size == pytest.approx(beat_times.size, abs=1)
    assert heart_rate_bpm(peaks, fs) == pytest.approx(110, abs=0.5)
    assert np.allclose(rr_intervals_s(peaks, fs), 60 / 110, atol=2 / fs)
    assert ecg_sqi(ecg, fs) > 0.9


def test_flat_and_empty_inputs_give_no_beats_and_nan() -> None:
    fs = 250.0
    assert detect_qrs(np.zeros(0), fs).size == 0
    assert detect_qrs(np.zeros(2500), fs).size == 0
    assert detect_qrs(np.full(2500, 3.7), fs).size == 0
    assert np.isnan(heart_rate_bpm(np.array([], dtype=np.int64), fs))
    assert np.isnan(heart_rate_bpm(np.array([100]), fs))
    assert rr_intervals_s([5], fs).size == 0
    assert np.isnan(ecg_sqi(np.zeros(2500), fs))
    assert np.isnan(ecg_sqi(np.zeros(0), fs))
    det = StreamingQRSDetector(fs)
    assert det.process([]).size == 0 and det.flush().size == 0


def test_noise_lowers_ecg_quality(mitdb100: tuple[np.ndarray, float, np.ndarray]) -> None:
    x, fs, _ = mitdb100
    clean = x[: int(20 * fs)]
    noisy = clean + np.random.default_rng(1).normal(0, 1.0, clean.size)
    assert ecg_sqi(clean, fs) > 0.9
    assert ecg_sqi(noisy, fs) < 0.5


def test_a_gap_of_nan_samples_does_not_stop_detection(mitdb100: tuple[np.ndarray, float, np.ndarray]) -> None:
    x, fs, ref = mitdb100
    y = x[: int(60 * fs)].copy()
    y[int(20 * fs):int(22 * fs)] = np.nan
    peaks = detect_qrs(y, fs)
    after = ref[(ref > 25 * fs) & (ref < 58 * fs)]
    m = match_beats(after, peaks[(peaks > 25 * fs) & (peaks < 58 * fs)], tol=int(0.15 * fs))
    assert m.sensitivity == 1.0 and m.positive_predictivity == 1.0


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="fs_hz"):
        StreamingQRSDetector(0)
    with pytest.raises(ValueError, match="band_hz"):
        QRSConfig(band_hz=(20.0, 5.0))
    with pytest.raises(ValueError, match="refractory_s"):
        QRSConfig(refractory_s=0)
