"""Motion level from a wearable's 3-axis accelerometer, to flag motion-corrupted PPG/ECG values.

The level is the RMS of the band-passed (0.5–10 Hz) acceleration magnitude, in m/s²: taking the
magnitude √(x² + y² + z²) makes it independent of how the sensor is worn, and the band-pass
removes gravity (a constant ≈ 9.81 m/s² on the magnitude) and slow posture changes while keeping
the frequencies of limb and body movement.

:data:`MOTION_THRESHOLD_MS2` (0.5 m/s², about 50 mg) is the level above which PPG- and
ECG-derived values of the same seconds should carry the quality flag ``motion``. It is the
order of the wrist cut point between sedentary behaviour and light activity used in actigraphy
(about 45–50 mg of gravity-removed acceleration, Hildebrand et al., Med Sci Sports Exerc 2014);
a patient lying still stays one to two orders of magnitude below it (sensor noise, breathing),
and motion artefacts in wrist PPG begin with light arm movement. It is a conventional choice,
not a threshold validated on this project's data.

The streaming meter keeps its filter state between chunks, so chunked and whole-record levels
agree sample for sample.

>>> import numpy as np
>>> fs_hz = 50.0
>>> t = np.arange(int(10 * fs_hz)) / fs_hz
>>> still = np.zeros_like(t), np.zeros_like(t), np.full_like(t, 9.81)
>>> walking = np.zeros_like(t), 2.0 * np.sin(2 * np.pi * 2.0 * t), 9.81 + 3.0 * np.sin(2 * np.pi * 2.0 * t)
>>> motion_level_ms2(*still, fs_hz) < MOTION_THRESHOLD_MS2 < motion_level_ms2(*walking, fs_hz)
True
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.signal import butter

from wardwatch.models.signal.filters import CausalFilter, as_samples

logger = logging.getLogger(__name__)

__all__ = ["MOTION_THRESHOLD_MS2", "StreamingMotionMeter", "motion_level_ms2", "is_motion"]

#: Motion level (m/s², band-passed magnitude RMS) above which PPG/ECG values are flagged ``motion``.
MOTION_THRESHOLD_MS2 = 0.5

_BAND_HZ = (0.5, 10.0)


def _magnitude(x: ArrayLike, y: ArrayLike, z: ArrayLike) -> NDArray[np.float64]:
    ax, ay, az = as_samples(x), as_samples(y), as_samples(z)
    if not ax.size == ay.size == az.size:
        raise ValueError(f"x, y and z must have the same length, got {ax.size}, {ay.size}, {az.size}")
    return np.sqrt(ax * ax + ay * ay + az * az)


class StreamingMotionMeter:
    """Motion level of consecutive accelerometer chunks (filter state carried between them).

    Parameters
    ----------
    fs_hz : float
        Accelerometer sampling rate (≥ 2.5 Hz; the band's top is capped at 0.45 fs).
    """

    def __init__(self, fs_hz: float) -> None:
        if not fs_hz > 2 * _BAND_HZ[0] / 0.45:
            raise ValueError(f"fs_hz must be > {2 * _BAND_HZ[0] / 0.45:.2f}, got {fs_hz}")
        hi = min(_BAND_HZ[1], 0.45 * float(fs_hz))
        sos = np.asarray(butter(2, [_BAND_HZ[0], hi], btype="bandpass", fs=float(fs_hz), output="sos"))
        self.fs_hz = float(fs_hz)
        self._filter = CausalFilter(sos)

    def filtered(self, x: ArrayLike, y: ArrayLike, z: ArrayLike) -> NDArray[np.float64]:
        """The band-passed magnitude of the next chunk, m/s², one value per sample."""
        return self._filter.apply(_magnitude(x, y, z))

    def process(self, x: ArrayLike, y: ArrayLike, z: ArrayLike) -> float:
        """Motion level of the next chunk in m/s² (RMS of the band-passed magnitude); NaN if empty."""
        m = self.filtered(x, y, z)
        if m.size == 0:
            return float("nan")
        return float(np.sqrt(np.mean(m * m)))


def motion_level_ms2(x: ArrayLike, y: ArrayLike, z: ArrayLike, fs_hz: float) -> float:
    """Motion level of a whole window in m/s²: RMS of the band-passed acceleration magnitude.

    Parameters
    ----------
    x, y, z : array_like
        Acceleration along the three axes, m/s², same length.
    fs_hz : float
        Sampling rate.

    Returns
    -------
    float
        The level, NaN for an empty window.
    """
    return StreamingMotionMeter(fs_hz).process(x, y, z)


def is_motion(level_ms2: float, threshold_ms2: float = MOTION_THRESHOLD_MS2) -> bool:
    """Whether a motion level calls for the ``motion`` flag (False for NaN: no accelerometer)."""
    return bool(level_ms2 > threshold_ms2)
