"""Respiratory rate: from a respiration channel, or from PPG and ECG surrogates when there is none.

All estimators work on a window (30–60 s is the useful range) and return breaths/min, NaN when
the window is too short (< 10 s), flat, or holds no breathing-like rhythm.

- :func:`respiration_rate_bpm` on a RESP channel (thoracic impedance, a belt, a flow signal):
  ``method="spectral"`` takes the peak of the Welch spectrum of the 0.1–1 Hz band-passed signal
  (parabolic interpolation between bins); ``method="count"`` counts breaths: peaks of that signal
  higher than 20 % of the upper quartile of all its peaks, each separated from the next by a
  trough below 20 % of the lower quartile of all its troughs (Schäfer & Kratky's "advanced
  counting"); the rate is breaths − 1 over the time from the first to the last.
- :func:`resp_rate_from_ppg`: breathing modulates the pulse wave's amplitude (AM), its baseline
  (BM) and the pulse intervals (FM, sinus arrhythmia). Each series, sampled once per pulse, is
  interpolated to 4 Hz and its spectral peak taken. The estimate is the median of those whose
  peak holds at least half the share of band power (within ±0.05 Hz) that the sharpest holds.
- :func:`resp_rate_from_ecg`: the same with the R-wave amplitude and the RR intervals.

Surrogate rates are limited to half the pulse rate (the series are sampled once per beat).
Errors against a RESP channel on real recordings: ``bench/reports/qrs.md``.

>>> import numpy as np
>>> fs_hz = 25.0
>>> t = np.arange(int(60 * fs_hz)) / fs_hz
>>> resp = np.sin(2 * np.pi * (15 / 60) * t)
>>> float(round(respiration_rate_bpm(resp, fs_hz), 1))
15.0
>>> float(round(respiration_rate_bpm(resp, fs_hz, method="count"), 1))
15.0
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.signal import butter, find_peaks, sosfiltfilt, welch

from wardwatch.models.signal.ecg import detect_qrs
from wardwatch.models.signal.ppg import Pulses, detect_pulses

logger = logging.getLogger(__name__)

__all__ = ["respiration_rate_bpm", "resp_rate_from_ppg", "resp_rate_from_ecg"]

_BAND_HZ = (0.1, 1.0)
_MIN_WINDOW_S = 10.0
_SERIES_FS_HZ = 4.0


def _clean(signal: ArrayLike, fs_hz: float) -> NDArray[np.float64] | None:
    x = np.asarray(signal, dtype=np.float64).ravel()
    if x.size < _MIN_WINDOW_S * fs_hz:
        return None
    bad = ~np.isfinite(x)
    if bad.mean() > 0.2:
        return None
    if bad.any():
        idx = np.arange(x.size)
        x = np.interp(idx, idx[~bad], x[~bad])
    if np.ptp(x) == 0:
        return None
    return x


def _band(x: NDArray[np.float64], fs_hz: float, hi_hz: float) -> NDArray[np.float64]:
    sos = butter(2, [_BAND_HZ[0], min(hi_hz, 0.45 * fs_hz)], btype="bandpass", fs=fs_hz, output="sos")
    return np.asarray(sosfiltfilt(sos, x - np.mean(x), padlen=min(x.size - 1, int(3 * fs_hz / _BAND_HZ[0]))))


def _spectral_peak_bpm(y: NDArray[np.float64], fs_hz: float, hi_hz: float) -> float:
    return _spectral_peak(y, fs_hz, hi_hz)[0]


def _spectral_peak(y: NDArray[np.float64], fs_hz: float, hi_hz: float) -> tuple[float, float]:
    """(rate in breaths/min, share of the band's power within ±0.05 Hz of the peak)."""
    nperseg = min(y.size, int(32 * fs_hz))
    nfft = 1 << int(np.ceil(np.log2(nperseg * 8)))
    f, p = welch(y, fs=fs_hz, nperseg=nperseg, nfft=nfft, detrend="linear")
    band = (f >= _BAND_HZ[0]) & (f <= hi_hz)
    if not band.any() or not np.any(p[band] > 0):
        return float("nan"), 0.0
    k = int(np.flatnonzero(band)[np.argmax(p[band])])
    shift = 0.0
    if 0 < k < f.size - 1:
        a, b, c = p[k - 1], p[k], p[k + 1]
        den = a - 2 * b + c
        if den < 0:
            shift = 0.5 * (a - c) / den
    near = band & (np.abs(f - f[k]) <= 0.05)
    share = float(np.sum(p[near]) / np.sum(p[band]))
    return 60.0 * (f[k] + shift * (f[1] - f[0])), share


def _count_bpm(y: NDArray[np.float64], fs_hz: float) -> float:
    peaks, _ = find_peaks(y)
    troughs, _ = find_peaks(-y)
    if peaks.size < 2 or troughs.size < 1:
        return float("nan")
    hi = 0.2 * np.percentile(y[peaks], 75)
    lo = 0.2 * np.percentile(y[troughs], 25)
    if not (hi > 0 and lo < 0):
        return float("nan")
    breaths: list[int] = []
    for p in (int(k) for k in peaks if y[k] > hi):
        if not breaths or y[breaths[-1]:p].min() < lo:
            breaths.append(p)  # a real trough since the last breath: a new breath
        elif y[p] > y[breaths[-1]]:
            breaths[-1] = p  # the same breath, a higher top
    if len(breaths) < 2:
        return float("nan")
    return 60.0 * (len(breaths) - 1) * fs_hz / (breaths[-1] - breaths[0])


def respiration_rate_bpm(
    resp: ArrayLike, fs_hz: float, method: Literal["spectral", "count"] = "spectral"
) -> float:
    """Breaths/min of a respiration channel window (see the module docstring for the methods).

    Parameters
    ----------
    resp : array_like
        The respiration signal over the window (≥ 10 s; 30–60 s recommended).
    fs_hz : float
        Its sampling rate.
    method : {"spectral", "count"}
        Spectral peak (robust to noise) or breath counting (follows irregular breathing).
    """
    x = _clean(resp, fs_hz)
    if x is None:
        return float("nan")
    y = _band(x, fs_hz, _BAND_HZ[1])
    if method == "spectral":
        return _spectral_peak_bpm(y, fs_hz, _BAND_HZ[1])
    if method == "count":
        return _count_bpm(y, fs_hz)
    raise ValueError(f"method must be 'spectral' or 'count', got {method!r}")


def _series_rate(times_s: NDArray[np.float64], values: NDArray[np.float64], beat_hz: float) -> tuple[float, float]:
    ok = np.isfinite(times_s) & np.isfinite(values)
    times_s, values = times_s[ok], values[ok]
    if times_s.size < 8 or times_s[-1] - times_s[0] < _MIN_WINDOW_S or np.ptp(values) == 0:
        return float("nan"), 0.0
    grid = np.arange(times_s[0], times_s[-1], 1.0 / _SERIES_FS_HZ)
    series = np.interp(grid, times_s, values)
    hi_hz = min(_BAND_HZ[1], 0.5 * beat_hz)
    y = _band(series, _SERIES_FS_HZ, hi_hz)
    return _spectral_peak(y, _SERIES_FS_HZ, hi_hz)


def _fuse(estimates: list[tuple[float, float]]) -> float:
    """Median of the estimates whose spectral peak is at least half as sharp as the sharpest."""
    good = [(r, q) for r, q in estimates if np.isfinite(r) and q > 0]
    if not good:
        return float("nan")
    best = max(q for _, q in good)
    return float(np.median([r for r, q in good if q >= 0.5 * best]))


def resp_rate_from_ppg(pleth: ArrayLike, fs_hz: float, pulses: Pulses | None = None) -> float:
    """Breaths/min from a PLETH window: AM, BM and FM surrogate rates, fused (module docstring)."""
    x = _clean(pleth, fs_hz)
    if x is None:
        return float("nan")
    p = detect_pulses(x, fs_hz) if pulses is None else pulses
    if p.peaks.size < 8:
        return float("nan")
    t = p.peaks / fs_hz
    beat_hz = 1.0 / float(np.median(np.diff(t)))
    am = x[p.peaks] - x[p.feet]
    bm = 0.5 * (x[p.peaks] + x[p.feet])
    fm_t = 0.5 * (t[1:] + t[:-1])
    fm = np.diff(t)
    return _fuse([_series_rate(t, am, beat_hz), _series_rate(t, bm, beat_hz), _series_rate(fm_t, fm, beat_hz)])


def resp_rate_from_ecg(ecg: ArrayLike, fs_hz: float, peaks: ArrayLike | None = None) -> float:
    """Breaths/min from an ECG window: R-amplitude and RR-interval surrogate rates, fused."""
    x = _clean(ecg, fs_hz)
    if x is None:
        return float("nan")
    r = detect_qrs(x, fs_hz) if peaks is None else np.asarray(peaks, dtype=np.int64)
    if r.size < 8:
        return float("nan")
    sos = butter(2, [0.5, min(40.0, 0.45 * fs_hz)], btype="bandpass", fs=fs_hz, output="sos")
    lead = sosfiltfilt(sos, x)
    t = r / fs_hz
    beat_hz = 1.0 / float(np.median(np.diff(t)))
    rr_t = 0.5 * (t[1:] + t[:-1])
    return _fuse([_series_rate(t, lead[r], beat_hz), _series_rate(rr_t, np.diff(t), beat_hz)])
