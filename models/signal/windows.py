"""Windowed numerics: median and robust spread of the values of the last N seconds.

A numeric stream (heart rate every second, SpO2, a derived respiratory rate) is summarised over
a sliding time window by its median and a robust spread: the scaled median absolute deviation
(MAD × 1.4826, which equals the standard deviation for normal data) or the interquartile range.
Both ignore a few outliers, which is what a baseline for alarms needs.

:class:`RollingStats` keeps the window's values twice: in arrival order (to expire the oldest)
and sorted (a plain list kept sorted with :mod:`bisect`). Adding or expiring a value costs a
binary search and a ``memmove`` of the list, O(log n) comparisons plus O(n) bytes moved, which
for the few hundred values of a ward window is cheaper than any tree; the median and the
quartiles are then O(1) reads, the MAD one O(n) numpy pass.

>>> stats = RollingStats(window_s=60)
>>> for k, v in enumerate([72, 74, 73, 140, 75]):
...     stats.add(k * 1_000_000_000, v)
>>> stats.median(), round(stats.mad(), 2)
(74.0, 1.48)
"""

from __future__ import annotations

import bisect
import logging
import math
from collections import deque

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["RollingStats"]

_MAD_TO_SD = 1.482602218505602  # 1 / Phi^-1(3/4)


class RollingStats:
    """Median, MAD and IQR over the values of the last ``window_s`` seconds.

    Parameters
    ----------
    window_s : float
        Window length in seconds. A value stamped ``t`` stays while ``t > newest - window_s``.

    Notes
    -----
    Timestamps are epoch nanoseconds. Values may arrive slightly out of order; one older
    than the window already is dropped. NaN and infinite values are ignored.
    """

    def __init__(self, window_s: float) -> None:
        if not window_s > 0:
            raise ValueError(f"window_s must be > 0, got {window_s}")
        self.window_ns = int(window_s * 1e9)
        self._times: deque[tuple[int, float]] = deque()
        self._sorted: list[float] = []
        self._newest = -(2**63)

    def __len__(self) -> int:
        return len(self._sorted)

    def add(self, timestamp_ns: int, value: float) -> None:
        """Add one value and expire those that fell out of the window."""
        v = float(value)
        if not math.isfinite(v):
            return
        t = int(timestamp_ns)
        if t <= self._newest - self.window_ns:
            return
        if t >= self._newest or not self._times:
            self._times.append((t, v))
        else:  # late arrival: keep arrival order by time
            items = list(self._times)
            k = bisect.bisect_right([a for a, _ in items], t)
            items.insert(k, (t, v))
            self._times = deque(items)
        bisect.insort(self._sorted, v)
        self._newest = max(self._newest, t)
        self._expire()

    def _expire(self) -> None:
        limit = self._newest - self.window_ns
        while self._times and self._times[0][0] <= limit:
            _, old = self._times.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, old)]

    def _quantile(self, q: float) -> float:
        """Linear-interpolation quantile (numpy's default method) of the sorted values."""
        n = len(self._sorted)
        if n == 0:
            return float("nan")
        pos = q * (n - 1)
        lo = int(math.floor(pos))
        hi = min(lo + 1, n - 1)
        return self._sorted[lo] + (self._sorted[hi] - self._sorted[lo]) * (pos - lo)

    def median(self) -> float:
        """Median of the window's values; NaN when empty."""
        return float(self._quantile(0.5))

    def mad(self, scaled: bool = True) -> float:
        """Median absolute deviation from the median; ×1.4826 when ``scaled``. NaN when empty."""
        if not self._sorted:
            return float("nan")
        a = np.asarray(self._sorted)
        m = float(np.median(np.abs(a - self.median())))
        return m * _MAD_TO_SD if scaled else m

    def iqr(self) -> float:
        """Interquartile range (75th minus 25th percentile); NaN when empty."""
        return float(self._quantile(0.75) - self._quantile(0.25))

    def values(self) -> np.ndarray:
        """The window's values in arrival-time order (a copy)."""
        return np.array([v for _, v in self._times])
