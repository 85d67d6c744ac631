"""Rhythm features of one single-lead ECG window for the AF detector: pure numpy, NaN-safe.

Atrial fibrillation shows as an *irregularly irregular* ventricular rhythm and as missing P
waves (replaced by fibrillatory f waves). The features describe both, plus the window's quality:

- **RR irregularity** (beats from the project's QRS detector,
  :func:`~wardwatch.models.signal.ecg.detect_qrs`): coefficient of variation, RMSSD and Poincaré
  SD1/SD2 (relative to the mean RR), fraction of successive differences over 50 ms and over 10 %
  of the RR, the median absolute successive difference (robust to a single ectopic beat), the
  turning-point ratio (2/3 for a random series, lower for a regular or trending one), sample
  entropy of the RR series, the spread of RR ratios, the fraction of RR outliers (ectopy), and how
  much the RRs and their successive differences cluster on a few levels (*regularly* irregular
  rhythms, bigeminy or 3:2 block, cluster; AF does not);
- **atrial activity**: how alike the 250–80 ms before each R peak are (the P wave: a consistent
  shape in sinus rhythm, none in AF), the size of the median P region against the QRS, and the
  4–9 Hz energy of the T–Q intervals (f waves) relative to the QRS;
- **quality**: bSQI and tSQI (:mod:`wardwatch.models.signal.quality`) and the usable duration.
  (Spectral noise fractions and flat-run fractions were tried and dropped: they mostly told the
  two training collections apart, which filter and quantise differently.)

Every value that cannot be computed is NaN (the model imputes it); :func:`rr_features` can be
called alone on an RR series, which is what the unit tests do.

>>> import numpy as np
>>> regular = rr_features(np.full(40, 0.8))
>>> rng = np.random.default_rng(0)
>>> irregular = rr_features(rng.uniform(0.4, 1.0, 40))
>>> bool(irregular["rmssd_rel"] > 10 * max(regular["rmssd_rel"], 0.01))
True
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.signal import butter, sosfiltfilt

from wardwatch.models.signal.ecg import detect_qrs
from wardwatch.models.signal.quality import ecg_bsqi, ecg_tsqi

logger = logging.getLogger(__name__)

__all__ = ["FEATURE_NAMES", "RR_FEATURE_NAMES", "rr_features", "window_features", "usable_segment", "MIN_USABLE_S"]

#: Shortest stretch of finite samples, in seconds, worth scoring.
MIN_USABLE_S = 5.0

RR_FEATURE_NAMES: tuple[str, ...] = (
    "hr_bpm", "rr_cv", "rmssd_rel", "sd1_rel", "sd2_rel", "sd1_sd2", "psd50", "psd_rel10",
    "mad_drr_rel", "tpr", "sampen", "rr_min_rel", "rr_max_rel", "rr_outlier_frac", "rr_density", "drr_density",
)
FEATURE_NAMES: tuple[str, ...] = RR_FEATURE_NAMES + (
    "beats_per_s", "p_corr", "p_to_qrs", "fwave_rel", "qrs_amp_mv",
    "bsqi", "tsqi", "usable_s",
)


def _sampen(x: NDArray[np.float64], m: int = 2, r: float = 0.2) -> float:
    """Sample entropy of a short series, tolerance ``r`` times its standard deviation."""
    n = x.size
    sd = float(np.std(x))
    if n < m + 3 or sd == 0:
        return float("nan")
    tol = r * sd

    def matches(k: int) -> int:
        emb = np.stack([x[i:n - m + i] for i in range(k)], axis=1)  # n - m templates of length k
        d = np.max(np.abs(emb[:, None, :] - emb[None, :, :]), axis=2)
        return int((np.sum(d <= tol) - emb.shape[0]) // 2)

    b, a = matches(m), matches(m + 1)
    if a == 0 or b == 0:
        return float(np.log(max(b, 1)) + np.log(2.0))  # capped: no (m+1)-matches at all
    return float(-np.log(a / b))


def _density(v: NDArray[np.float64], tol: float) -> float:
    """Mean fraction of the other values within ``tol`` of each value: high when the values
    sit on one or a few levels (sinus rhythm, bigeminy, block), low when they are spread (AF)."""
    if v.size < 2:
        return float("nan")
    close = np.abs(v[:, None] - v[None, :]) <= tol
    return float((close.sum() - v.size) / (v.size * (v.size - 1)))


def rr_features(rr_s: ArrayLike) -> dict[str, float]:
    """Irregularity features of an RR series (seconds); NaN where there are too few intervals.

    Parameters
    ----------
    rr_s : array_like
        Successive RR intervals in seconds.

    Returns
    -------
    dict
        One value per name of :data:`RR_FEATURE_NAMES`; relative values (``*_rel``) are divided
        by the mean (or median) RR so they do not depend on the heart rate.
    """
    rr = np.asarray(rr_s, dtype=np.float64)
    rr = rr[np.isfinite(rr) & (rr > 0)]
    out = dict.fromkeys(RR_FEATURE_NAMES, float("nan"))
    if rr.size < 3:
        if rr.size:
            out["hr_bpm"] = 60.0 / float(np.median(rr))
        return out
    mean, med = float(np.mean(rr)), float(np.median(rr))
    d = np.diff(rr)
    sd1 = float(np.std(d) / np.sqrt(2.0))
    sd2 = float(np.sqrt(max(2.0 * np.var(rr) - sd1 * sd1, 0.0)))
    turning = np.sum((rr[1:-1] - rr[:-2]) * (rr[1:-1] - rr[2:]) > 0)
    out.update(
        hr_bpm=60.0 / med,
        rr_cv=float(np.std(rr) / mean),
        rmssd_rel=float(np.sqrt(np.mean(d * d)) / mean),
        sd1_rel=sd1 / mean,
        sd2_rel=sd2 / mean,
        sd1_sd2=sd1 / sd2 if sd2 > 0 else float("nan"),
        psd50=float(np.mean(np.abs(d) > 0.05)),
        psd_rel10=float(np.mean(np.abs(d) / rr[:-1] > 0.10)),
        mad_drr_rel=float(np.median(np.abs(d)) / med),
        tpr=float(turning / (rr.size - 2)),
        sampen=_sampen(rr),
        rr_min_rel=float(np.min(rr) / med),
        rr_max_rel=float(np.max(rr) / med),
        rr_outlier_frac=float(np.mean(np.abs(rr / med - 1.0) > 0.2)),
        rr_density=_density(rr / med, 0.04),
        drr_density=_density(d / med, 0.05),
    )
    return out


def usable_segment(window: ArrayLike) -> NDArray[np.float64]:
    """The window with leading and trailing NaN removed and interior NaN filled by the last value.

    A window shorter than its shape (a short record, the start of a stream) is padded with NaN
    by :func:`~wardwatch.models.detectors.af.window_from_ecg`; this undoes that padding.
    """
    x = np.asarray(window, dtype=np.float64).ravel()
    ok = np.flatnonzero(np.isfinite(x))
    if ok.size == 0:
        return np.zeros(0)
    x = x[ok[0]:ok[-1] + 1]
    bad = ~np.isfinite(x)
    if bad.any():
        idx = np.where(bad, 0, np.arange(x.size))
        np.maximum.accumulate(idx, out=idx)
        x = x[idx]
    return x


def _band(x: NDArray[np.float64], fs_hz: float, lo: float | None, hi: float | None) -> NDArray[np.float64]:
    if lo and hi:
        sos = butter(2, [lo, min(hi, 0.45 * fs_hz)], btype="bandpass", fs=fs_hz, output="sos")
    elif lo:
        sos = butter(2, lo, btype="highpass", fs=fs_hz, output="sos")
    else:
        sos = butter(2, hi, btype="lowpass", fs=fs_hz, output="sos")
    return np.asarray(sosfiltfilt(sos, x, padlen=min(12, x.size - 1)))


def _segments(y: NDArray[np.float64], centres: NDArray[np.int64], lo: int, hi: int) -> NDArray[np.float64]:
    c = centres[(centres + lo >= 0) & (centres + hi <= y.size)]
    if c.size == 0:
        return np.zeros((0, hi - lo))
    return np.stack([y[k + lo:k + hi] for k in c])


def _template_corr(rows: NDArray[np.float64]) -> float:
    if rows.shape[0] < 3:
        return float("nan")
    t = np.median(rows, axis=0)
    a = rows - rows.mean(axis=1, keepdims=True)
    b = t - t.mean()
    den = np.sqrt(np.sum(a * a, axis=1) * np.sum(b * b))
    corr = np.divide(a @ b, den, out=np.zeros(rows.shape[0]), where=den > 0)
    return float(np.mean(corr))


def _atrial(y: NDArray[np.float64], peaks: NDArray[np.int64], fs_hz: float) -> tuple[float, float, float, float]:
    """P-region likeness, P/QRS size, f-wave energy relative to the QRS, QRS amplitude (mV)."""
    nan = float("nan")
    s = lambda t: int(round(t * fs_hz))  # noqa: E731 - seconds to samples
    qrs = _segments(y, peaks, -s(0.06), s(0.06))
    if qrs.shape[0] < 3:
        return nan, nan, nan, nan
    qrs_amp = float(np.ptp(np.median(qrs, axis=0)))
    prs = _segments(y, peaks, -s(0.25), -s(0.08))
    p_corr = _template_corr(prs)
    p_to_qrs = float(np.ptp(np.median(prs, axis=0)) / qrs_amp) if prs.shape[0] >= 3 and qrs_amp > 0 else nan
    f = _band(y, fs_hz, 4.0, 9.0)
    energy, count = 0.0, 0
    for a, b in zip(peaks[:-1], peaks[1:]):
        lo, hi = a + max(s(0.35), int(0.55 * (b - a))), b - s(0.1)
        if hi - lo >= s(0.08):
            seg = f[lo:hi]
            energy += float(np.sum(seg * seg))
            count += seg.size
    fwave = float(np.sqrt(energy / count) / qrs_amp) if count and qrs_amp > 0 else nan
    return p_corr, p_to_qrs, fwave, qrs_amp


def window_features(window: ArrayLike, fs_hz: float) -> NDArray[np.float64] | None:
    """The :data:`FEATURE_NAMES` vector of one ECG window in mV; None if it cannot be scored.

    Parameters
    ----------
    window : array_like, 1-D
        One lead in millivolts; NaN padding at either end is ignored.
    fs_hz : float
        Sampling rate.

    Returns
    -------
    ndarray of float64 or None
        None when fewer than :data:`MIN_USABLE_S` seconds are finite or the lead is flat; otherwise
        the features, NaN where one cannot be computed.
    """
    x = usable_segment(window)
    if x.size < MIN_USABLE_S * fs_hz or np.ptp(x) < 1e-6:
        return None
    peaks = detect_qrs(x, fs_hz)
    rr = np.diff(peaks) / fs_hz
    feats = rr_features(rr)
    y = _band(x, fs_hz, 0.5, 40.0)
    p_corr, p_to_qrs, fwave, qrs_amp = _atrial(y, peaks, fs_hz)
    feats.update(
        beats_per_s=peaks.size / (x.size / fs_hz),
        p_corr=p_corr,
        p_to_qrs=p_to_qrs,
        fwave_rel=fwave,
        qrs_amp_mv=qrs_amp,
        bsqi=ecg_bsqi(x, fs_hz, peaks),
        tsqi=ecg_tsqi(x, fs_hz, peaks),
        usable_s=x.size / fs_hz,
    )
    return np.array([feats[name] for name in FEATURE_NAMES], dtype=np.float64)
