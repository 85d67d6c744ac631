"""Signal-quality indices in [0, 1] for ECG and PPG windows (1 = clean, 0 = unusable).

ECG (:func:`ecg_sqi`) combines two classic indices and keeps the lower:

- *bSQI*, agreement of two unlike detectors: the project's QRS detector and a plain amplitude
  detector (peaks of the absolute 0.5–40 Hz lead above 40 % of its 99th percentile, 250 ms
  apart), matched within 150 ms; bSQI = matched / (beats of either). Noise makes them disagree.
- *tSQI*, beat-to-template likeness: each beat's ±100 ms around its R peak is correlated with the
  median beat; tSQI = mean correlation, negatives counted as 0.

PPG (:func:`ppg_sqi`) is the mean correlation (negatives as 0) of each pulse, foot to next foot
resampled to 64 points, with the median pulse.

Both are NaN when they cannot be computed: an empty or flat window, or too few beats for a
template (fewer than 3).

>>> import numpy as np
>>> fs_hz = 250.0
>>> t = np.arange(int(10 * fs_hz)) / fs_hz
>>> ecg = sum(np.exp(-((t - b) ** 2) / (2 * 0.012**2)) for b in np.arange(0.5, 10, 0.8))
>>> ecg_sqi(ecg, fs_hz) > 0.9
True
>>> noise = np.random.default_rng(0).normal(size=t.size)
>>> ecg_sqi(noise, fs_hz) < 0.5
True
>>> bool(np.isnan(ecg_sqi(np.zeros(2500), fs_hz)))
True
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.signal import butter, find_peaks, sosfiltfilt

from wardwatch.models.signal.ecg import detect_qrs
from wardwatch.models.signal.metrics import match_beats
from wardwatch.models.signal.ppg import Pulses, detect_pulses

logger = logging.getLogger(__name__)

__all__ = ["ecg_sqi", "ecg_bsqi", "ecg_tsqi", "ppg_sqi"]


def _lead(x: NDArray[np.float64], fs_hz: float) -> NDArray[np.float64]:
    sos = butter(2, [0.5, min(40.0, 0.45 * fs_hz)], btype="bandpass", fs=fs_hz, output="sos")
    padlen = min(3 * 2 * sos.shape[0], x.size - 1)
    return np.asarray(sosfiltfilt(sos, x, padlen=padlen))


def _usable(signal: ArrayLike) -> NDArray[np.float64] | None:
    x = np.asarray(signal, dtype=np.float64).ravel()
    if x.size < 16 or not np.all(np.isfinite(x)) or np.ptp(x) == 0:
        return None
    return x


def ecg_bsqi(signal: ArrayLike, fs_hz: float, peaks: ArrayLike | None = None) -> float:
    """Agreement of the QRS detector with an amplitude detector, in [0, 1]; NaN if unusable.

    Parameters
    ----------
    signal : array_like
        One ECG lead, a window of a few seconds or more.
    fs_hz : float
        Sampling rate.
    peaks : array_like, optional
        R peaks already found in this window by :func:`~wardwatch.models.signal.ecg.detect_qrs`.
    """
    x = _usable(signal)
    if x is None:
        return float("nan")
    main = detect_qrs(x, fs_hz) if peaks is None else np.asarray(peaks, dtype=np.int64)
    a = np.abs(_lead(x, fs_hz))
    other, _ = find_peaks(a, height=0.4 * np.percentile(a, 99), distance=max(int(0.25 * fs_hz), 1))
    m = match_beats(main, other, tol=int(round(0.15 * fs_hz)))
    total = m.tp + m.fn + m.fp
    return m.tp / total if total else float("nan")


def ecg_tsqi(signal: ArrayLike, fs_hz: float, peaks: ArrayLike | None = None) -> float:
    """Mean correlation of beats with the median beat, in [0, 1]; NaN with fewer than 3 beats."""
    x = _usable(signal)
    if x is None:
        return float("nan")
    p = detect_qrs(x, fs_hz) if peaks is None else np.asarray(peaks, dtype=np.int64)
    half = max(int(round(0.1 * fs_hz)), 2)
    p = p[(p >= half) & (p + half < x.size)]
    if p.size < 3:
        return float("nan")
    y = _lead(x, fs_hz)
    beats = np.stack([y[k - half:k + half] for k in p])
    return _mean_template_corr(beats)


def ecg_sqi(signal: ArrayLike, fs_hz: float, peaks: ArrayLike | None = None) -> float:
    """ECG signal quality in [0, 1]: min(bSQI, tSQI); NaN when it cannot be computed."""
    x = _usable(signal)
    if x is None:
        return float("nan")
    p = detect_qrs(x, fs_hz) if peaks is None else np.asarray(peaks, dtype=np.int64)
    b = ecg_bsqi(x, fs_hz, p)
    t = ecg_tsqi(x, fs_hz, p)
    if np.isnan(b):
        return float("nan")
    return b if np.isnan(t) else min(b, t)


def ppg_sqi(signal: ArrayLike, fs_hz: float, pulses: Pulses | None = None) -> float:
    """PPG signal quality in [0, 1] by pulse-template correlation; NaN with fewer than 3 pulses."""
    x = _usable(signal)
    if x is None:
        return float("nan")
    p = detect_pulses(x, fs_hz) if pulses is None else pulses
    feet = np.asarray(p.feet, dtype=np.int64)
    if feet.size < 4:
        return float("nan")
    grid = np.linspace(0.0, 1.0, 64)
    waves = []
    for a, b in zip(feet[:-1], feet[1:]):
        if b - a < 4:
            continue
        seg = x[a:b + 1]
        waves.append(np.interp(grid, np.linspace(0.0, 1.0, seg.size), seg))
    if len(waves) < 3:
        return float("nan")
    return _mean_template_corr(np.stack(waves))


def _mean_template_corr(rows: NDArray[np.float64]) -> float:
    template = np.median(rows, axis=0)
    a = rows - rows.mean(axis=1, keepdims=True)
    b = template - template.mean()
    den = np.sqrt(np.sum(a * a, axis=1) * np.sum(b * b))
    corr = np.divide(a @ b, den, out=np.zeros(rows.shape[0]), where=den > 0)
    return float(np.mean(np.clip(corr, 0.0, 1.0)))
