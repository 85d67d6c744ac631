"""Stateful building blocks shared by the streaming detectors: a causal filter and a sample buffer.

Both are exact under chunking: filtering a record in one call or in chunks of any size gives
bit-identical output, because :func:`scipy.signal.sosfilt` carries its state (``zi``) from one
call to the next and performs the same operations on every sample either way.

>>> import numpy as np
>>> from scipy.signal import butter
>>> sos = butter(2, [5.0, 15.0], btype="bandpass", fs=250.0, output="sos")
>>> x = np.sin(np.arange(500) / 10.0)
>>> whole = CausalFilter(sos).apply(x)
>>> f = CausalFilter(sos)
>>> chunked = np.concatenate([f.apply(x[:123]), f.apply(x[123:])])
>>> bool(np.array_equal(whole, chunked))
True
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.signal import sosfilt, sosfreqz

logger = logging.getLogger(__name__)

__all__ = ["CausalFilter", "SampleBuffer", "as_samples", "group_delay_samples"]


def as_samples(chunk: ArrayLike) -> NDArray[np.float64]:
    """A chunk as a 1-D float64 array (a copy only where needed).

    Raises
    ------
    ValueError
        If the chunk is not one-dimensional.
    """
    x = np.asarray(chunk, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"a chunk must be one-dimensional, got shape {x.shape}")
    return x


class CausalFilter:
    """A causal IIR filter (second-order sections) whose state survives between chunks.

    Non-finite samples (NaN, inf: a dropped sample, a saturated channel) are replaced by the last
    finite sample before filtering, so one bad sample does not poison the filter state forever.
    The filter runs from rest on ``x - x0``, ``x0`` being the first sample: for a band-pass or
    high-pass (zero gain at DC) that is exactly the steady state, so a DC offset does not ring
    through the first second and a constant input gives exactly zero; a low-pass's output is
    relative to ``x0``.

    Parameters
    ----------
    sos : ndarray, shape (n_sections, 6)
        Filter coefficients as :func:`scipy.signal.butter` returns with ``output="sos"``.
    """

    def __init__(self, sos: NDArray[np.float64]) -> None:
        self._sos = np.asarray(sos, dtype=np.float64)
        self._zi = np.zeros((self._sos.shape[0], 2))
        self._x0: float | None = None
        self._last = 0.0

    def _clean(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        bad = ~np.isfinite(x)
        if not bad.any():
            return x
        # forward fill, seeded with the last finite sample of the previous chunk
        idx = np.where(bad, -1, np.arange(x.size))
        np.maximum.accumulate(idx, out=idx)
        x = np.where(idx >= 0, x[np.maximum(idx, 0)], self._last)
        return x

    def apply(self, chunk: ArrayLike) -> NDArray[np.float64]:
        """Filter the next chunk; return as many samples as came in."""
        x = self._clean(as_samples(chunk))
        if x.size == 0:
            return x
        if self._x0 is None:
            self._x0 = float(x[0]) if np.isfinite(x[0]) else 0.0
        self._last = float(x[-1])
        y, self._zi = sosfilt(self._sos, x - self._x0, zi=self._zi)
        return np.asarray(y, dtype=np.float64)


class SampleBuffer:
    """The most recent samples of one or more aligned derived signals, with absolute indices.

    ``start`` is the absolute index of the first kept sample; ``end`` one past the last. The
    buffer grows with :meth:`append` and forgets with :meth:`discard_before`.

    Parameters
    ----------
    n_rows : int
        How many aligned signals are kept (rows of :attr:`data`).
    """

    def __init__(self, n_rows: int) -> None:
        self.data = np.zeros((n_rows, 0), dtype=np.float64)
        self.start = 0

    @property
    def end(self) -> int:
        """Absolute index one past the newest sample."""
        return self.start + self.data.shape[1]

    def append(self, rows: NDArray[np.float64]) -> None:
        """Append aligned samples, shape ``(n_rows, n)``."""
        self.data = np.concatenate([self.data, rows], axis=1)

    def discard_before(self, index: int) -> None:
        """Forget samples older than absolute ``index``."""
        drop = min(max(index - self.start, 0), self.data.shape[1])
        if drop:
            self.data = self.data[:, drop:].copy()
            self.start += drop

    def view(self, row: int, lo: int, hi: int) -> NDArray[np.float64]:
        """Samples ``lo..hi-1`` (absolute, clipped to what is kept) of one row."""
        a = max(lo - self.start, 0)
        b = max(min(hi - self.start, self.data.shape[1]), a)
        return self.data[row, a:b]


def group_delay_samples(sos: NDArray[np.float64], f_hz: float, fs_hz: float) -> int:
    """Group delay of a causal filter at ``f_hz``, rounded to samples."""
    f = np.array([0.98 * f_hz, 1.02 * f_hz])
    _, h = sosfreqz(sos, worN=f, fs=fs_hz)
    phase = np.unwrap(np.angle(h))
    return int(round(-(phase[1] - phase[0]) / (2 * np.pi * (f[1] - f[0])) * fs_hz))
