"""Alarm evidence that does not depend on beat detection: ECG pauses, ECG spectra, pulsatility.

The beat-based evidence of :mod:`~wardwatch.models.detectors.alarm_evidence` fails where the
beat detectors do (wide ventricular complexes, noisy PLETH). These numbers look at the signals'
envelopes and spectra instead, over the alarm region (the window's last seconds, starting at
sample ``start``):

- :func:`ecg_flat_s`: the longest stretch in the region where the 1–40 Hz ECG stays below 15 %
  of its 99th-percentile amplitude before the region (a pause in *this* lead, found without R
  peaks; asystole needs one in every lead);
- :func:`ecg_lf_share`: over 4-s stretches of the region, the largest share of 0.5–40 Hz ECG
  power that lies in 1.5–8 Hz (ventricular tachycardia, flutter and fibrillation put their power
  there; noise and narrow-complex rhythms spread it higher);
- :func:`pulse_min_ratio`: log2 of the smallest 3-s pulse-band (0.5–8 Hz) spread in the region
  over the spread before it (a pulse that stops, even for a few seconds, gives a large negative
  number);
- :func:`pulse_regularity`: the autocorrelation peak of the pulse band over the last 8 s at lags
  of 0.3–2 s (30–200 /min): near 1 for a regular pulse, low for noise or no pulse.

All take a band-limited, NaN-free channel at :data:`FS_HZ` (``alarm_evidence`` passes its
interpolated channels). Each returns NaN when the window is too short to compute it.

>>> import numpy as np
>>> t = np.arange(30 * 250) / 250.0
>>> pulse = np.sin(2 * np.pi * 1.2 * t)
>>> pulse_regularity(pulse) > 0.8
True
>>> pulse[-5 * 250:] *= 0.01                                  # the pulse stops 5 s before the end
>>> pulse_min_ratio(pulse, start=18 * 250) < -5
True
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray
from scipy.signal import butter, sosfiltfilt, welch

__all__ = ["FS_HZ", "ecg_flat_s", "ecg_lf_share", "pulse_min_ratio", "pulse_regularity"]

logger = logging.getLogger(__name__)

FS_HZ = 250.0


def _band(x: NDArray[np.float64], lo: float, hi: float) -> NDArray[np.float64]:
    sos = butter(2, [lo, hi], btype="bandpass", fs=FS_HZ, output="sos")
    return np.asarray(sosfiltfilt(sos, x, padlen=min(60, x.size - 1)))


def ecg_flat_s(ecg: NDArray[np.float64], start: int) -> float:
    """Longest low-amplitude stretch (s) of the 1–40 Hz ECG in ``ecg[start:]``.

    The amplitude reference is the 99th percentile of ``|band|`` before ``start`` (of the whole
    window when ``start`` < 1 s); "low" is a rolling 0.3-s maximum below 15 % of it.
    """
    env = np.abs(_band(ecg, 1.0, 40.0))
    ref = float(np.percentile(env[:start] if start > FS_HZ else env, 99))
    w = int(0.3 * FS_HZ)
    if env.size - start < w:
        return float("nan")
    quiet = sliding_window_view(env, w).max(axis=1)[start:] < 0.15 * ref
    best = cur = 0
    for q in quiet:
        cur = cur + 1 if q else 0
        best = max(best, cur)
    return (best + w) / FS_HZ if best else 0.0


def ecg_lf_share(ecg: NDArray[np.float64], start: int) -> float:
    """Largest 1.5–8 Hz share of the 0.5–40 Hz ECG power over 4-s stretches (1-s steps) from ``start``."""
    y = _band(ecg, 0.5, 40.0)
    n4 = int(4 * FS_HZ)
    shares = []
    for a in range(start, y.size - n4 + 1, int(FS_HZ)):
        f, p = welch(y[a:a + n4], fs=FS_HZ, nperseg=512, noverlap=384)
        tot = p[(f >= 0.5) & (f <= 40)].sum()
        if tot > 0:
            shares.append(float(p[(f >= 1.5) & (f <= 8)].sum() / tot))
    return max(shares) if shares else float("nan")


def pulse_min_ratio(pulse: NDArray[np.float64], start: int) -> float:
    """log2 of the smallest 3-s pulse-band spread from ``start`` (0.5-s steps) over the spread before ``start``.

    Clipped to [-8, 3]; the whole window is the reference when ``start`` < 2 s.
    """
    b = _band(pulse, 0.5, 8.0)
    base = float(np.std(b[:start] if start > 2 * FS_HZ else b))
    n3 = int(3 * FS_HZ)
    spreads = [float(np.std(b[a:a + n3])) for a in range(start, b.size - n3 + 1, int(FS_HZ / 2))]
    if not spreads or base <= 0:
        return float("nan")
    return float(np.clip(np.log2(max(min(spreads), 1e-9 * base) / base), -8.0, 3.0))


def pulse_regularity(pulse: NDArray[np.float64], last_s: float = 8.0) -> float:
    """Autocorrelation peak of the last ``last_s`` s of the pulse band at lags 0.3–2 s (1 = perfectly periodic)."""
    seg = _band(pulse, 0.5, 8.0)[-int(last_s * FS_HZ):]
    seg = seg - seg.mean()
    n = seg.size
    if n <= int(2 * FS_HZ):
        return float("nan")
    spec = np.fft.rfft(seg, 2 * n)
    acf = np.fft.irfft(spec * np.conj(spec))[:n]
    if acf[0] <= 0:
        return 0.0
    return float(np.max(acf[int(0.3 * FS_HZ):int(2.0 * FS_HZ)] / acf[0]))
