"""Per-patient trends of one signal: change, robust slope and a slowly updating personal baseline.

:class:`SignalTrend` follows one signal of one patient. It keeps **per-minute medians** for the
last 4 hours (at most 241 numbers plus the samples of the current minute), so its memory is
bounded, and its whole state is a dict of plain numbers and lists (:meth:`SignalTrend.to_state`,
:meth:`SignalTrend.from_state`) that a Faust table can persist.

Definitions, for a horizon ``H`` with edge segment ``E`` (15 min / 5 min, 1 h / 10 min,
4 h / 30 min), evaluated at ``now`` on minute buckets (a bucket is the median of the samples whose
timestamp falls in one UTC minute; the current, still open minute counts with its median so far):

- **level**: median of the minute medians of the last 5 minutes.
- **change** over ``H``: median of the minute medians in the last ``E`` minus the median of those in
  the first ``E`` of the horizon, ``(now - H, now - H + E]``; NaN if either segment is empty.
- **slope** over ``H``, units per hour: Theil–Sen (median of pairwise slopes) of the minute medians
  in ``(now - H, now]`` against bucket centre times; NaN unless at least 3 buckets spanning at
  least half the horizon are present.
- **baseline**: initialised from the first 15 minutes of data (median of at least 3 minute
  medians; scale = 1.4826 × MAD, floored at 1 % of the baseline unless ``scale_floor`` is given),
  then updated once per closed minute by a Huber-clipped exponential step,
  ``b += α · clip(x - b, ±k·s)`` with ``α = 1 - exp(-60 s / τ)``, ``k = 2`` and the robust scale
  ``s`` tracked the same way. The **time constant τ is 6 hours of data** by default: a gap neither
  ages nor moves the baseline. One outlier minute moves it by at most ``α·k·s`` (0.0055 s). A
  large sustained shift moves it slowly at first (the clip) and then faster as ``s`` widens:
  measured on a heart rate of 70 /min (minute-median noise about 0.7 /min) that rises to 110 and
  stays there, the baseline moves 0.3 /min in the first hour, 2.6 in 4 h, half-way in about 9 h
  and to within 2 /min in about 23 h. It does not chase a deterioration, yet learns a new normal
  within a day.
- **deviation**: level minus baseline.

Samples older than the current minute arrive too late to change a closed median and are dropped
(counted in ``late``); more than ``max_samples_per_minute`` in one minute are dropped (``overflow``).

:class:`ChartedRecency` tells how long ago each kind of :class:`~wardwatch.streams.records.ChartedEvent`
was last charted for one patient.

>>> trend = SignalTrend("MDC_ECG_HEART_RATE")
>>> t0 = 1_790_000_000_000_000_000
>>> for k in range(3600):  # one hour, one sample a second, rising 12 /min per hour
...     trend.update(t0 + k * 10**9, 70.0 + 12.0 * k / 3600)
>>> snap = trend.snapshot(t0 + 3599 * 10**9)
>>> round(snap.slope_per_h["1h"], 3), round(snap.change["15m"], 2)
(12.0, 2.0)
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from wardwatch.errors import SchemaValidationError
from wardwatch.streams.records import CHARTED_EVENTS, ChartedEvent

__all__ = ["SignalTrend", "TrendSnapshot", "ChartedRecency", "HORIZONS", "theil_sen_slope"]

logger = logging.getLogger(__name__)

BUCKET_S = 60
_BUCKET_NS = BUCKET_S * 1_000_000_000
#: (label, horizon_s, edge_s) of each trend horizon.
HORIZONS: tuple[tuple[str, int, int], ...] = (("15m", 900, 300), ("1h", 3600, 600), ("4h", 14400, 1800))
_KEEP = max(h for _, h, _ in HORIZONS) // BUCKET_S + 1
_LEVEL_BUCKETS = 5
_STATE_VERSION = 1


@lru_cache(maxsize=8)
def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(n, 1)


def theil_sen_slope(t: np.ndarray, y: np.ndarray) -> float:
    """Median of the pairwise slopes ``(y_j - y_i) / (t_j - t_i)`` over all pairs with ``t_i != t_j``.

    Parameters
    ----------
    t, y : 1-D arrays of equal length (times in the slope's denominator unit, e.g. hours).

    Returns
    -------
    float
        The Theil–Sen slope; NaN with fewer than two distinct times.

    Examples
    --------
    >>> theil_sen_slope(np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 3.0, 50.0, 7.0]))
    2.0
    """
    t = np.asarray(t, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    i, j = _pairs(t.size)
    dt = t[j] - t[i]
    keep = dt != 0
    if not keep.any():
        return math.nan
    return float(np.median((y[j] - y[i])[keep] / dt[keep]))


@dataclass(frozen=True, slots=True)
class TrendSnapshot:
    """Trends of one signal at ``now_ns``; NaN wherever a figure cannot be computed.

    ``change`` is in the signal's unit, ``slope_per_h`` in its unit per hour, both keyed by horizon
    label (``"15m"``, ``"1h"``, ``"4h"``); ``points`` is the number of minute buckets in each horizon.
    """

    signal: str
    now_ns: int
    level: float
    baseline: float
    baseline_scale: float
    deviation: float
    change: dict[str, float]
    slope_per_h: dict[str, float]
    points: dict[str, int]


def _nan_if_none(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else value


class SignalTrend:
    """Trend tracker of one signal of one patient (see the module docstring for the definitions).

    Parameters
    ----------
    signal : MDC reference id, carried into snapshots.
    baseline_tau_s : baseline time constant in seconds of data (default 6 h).
    baseline_init_s : length of the first window the baseline starts from (default 15 min).
    huber_k : clip of a baseline step, in robust scales.
    scale_floor : smallest robust scale, in the signal's unit (default 1 % of the initial baseline).
    max_samples_per_minute : samples kept per minute bucket (default 600, i.e. 10 Hz).
    """

    def __init__(
        self,
        signal: str,
        *,
        baseline_tau_s: float = 6 * 3600.0,
        baseline_init_s: float = 900.0,
        huber_k: float = 2.0,
        scale_floor: float | None = None,
        max_samples_per_minute: int = 600,
    ) -> None:
        if not baseline_tau_s > 0 or not baseline_init_s >= BUCKET_S or not huber_k > 0 or max_samples_per_minute < 1:
            raise SchemaValidationError("$", "baseline_tau_s and huber_k must be > 0, baseline_init_s >= 60, max_samples_per_minute >= 1")
        if scale_floor is not None and not scale_floor > 0:
            raise SchemaValidationError("$.scale_floor", f"{scale_floor} must be > 0")
        self.signal = signal
        self.baseline_tau_s = float(baseline_tau_s)
        self.baseline_init_s = float(baseline_init_s)
        self.huber_k = float(huber_k)
        self.scale_floor = scale_floor
        self.max_samples_per_minute = int(max_samples_per_minute)
        self._closed: deque[tuple[int, float]] = deque()  # (minute index, median), oldest first
        self._open_index: int | None = None
        self._open_values: list[float] = []
        self._baseline = math.nan
        self._scale = math.nan
        self._floor = math.nan
        self._init_start: int | None = None
        self._init_values: list[float] = []
        self.samples = 0
        self.late = 0
        self.overflow = 0

    # --- updates ---------------------------------------------------------------------------
    def update(self, timestamp_ns: int, value: float) -> None:
        """Add one sample (UTC epoch ns, value in the signal's unit); non-finite values are ignored."""
        if not math.isfinite(value):
            return
        index = timestamp_ns // _BUCKET_NS
        if self._open_index is None:
            self._open_index = index
        elif index > self._open_index:
            self._close()
            self._open_index = index
        elif index < self._open_index:
            self.late += 1
            return
        if len(self._open_values) >= self.max_samples_per_minute:
            self.overflow += 1
            return
        self._open_values.append(float(value))
        self.samples += 1

    def _close(self) -> None:
        assert self._open_index is not None
        if self._open_values:
            median = float(np.median(self._open_values))
            self._closed.append((self._open_index, median))
            self._feed_baseline(self._open_index, median)
        self._open_values = []
        while self._closed and self._closed[0][0] <= self._open_index - _KEEP:
            self._closed.popleft()

    def _feed_baseline(self, index: int, x: float) -> None:
        if math.isnan(self._baseline):
            if self._init_start is None:
                self._init_start = index
            self._init_values.append(x)
            span_s = (index - self._init_start + 1) * BUCKET_S
            if span_s >= self.baseline_init_s and len(self._init_values) >= 3:
                values = np.asarray(self._init_values)
                self._baseline = float(np.median(values))
                self._floor = self.scale_floor if self.scale_floor is not None else max(0.01 * abs(self._baseline), 1e-6)
                mad = float(np.median(np.abs(values - self._baseline)))
                self._scale = max(self._floor, 1.4826 * mad)
                self._init_values = []
            return
        alpha = -math.expm1(-BUCKET_S / self.baseline_tau_s)
        residual = x - self._baseline
        limit = self.huber_k * self._scale
        self._baseline += alpha * min(max(residual, -limit), limit)
        self._scale = max(self._floor, (1 - alpha) * self._scale + alpha * 1.25 * min(abs(residual), 3 * self._scale))

    # --- queries ---------------------------------------------------------------------------
    def _buckets(self, now_index: int) -> tuple[np.ndarray, np.ndarray]:
        pairs = [(i, m) for i, m in self._closed if i <= now_index]
        if self._open_values and self._open_index is not None and self._open_index <= now_index:
            pairs.append((self._open_index, float(np.median(self._open_values))))
        if not pairs:
            return np.empty(0, dtype=np.int64), np.empty(0)
        index, median = zip(*pairs)
        return np.asarray(index, dtype=np.int64), np.asarray(median, dtype=np.float64)

    @property
    def baseline(self) -> float:
        """The personal baseline (NaN until the first window is complete)."""
        return self._baseline

    def snapshot(self, now_ns: int) -> TrendSnapshot:
        """Level, baseline, change and slope over each horizon ending at ``now_ns``."""
        now_index = now_ns // _BUCKET_NS
        index, median = self._buckets(now_index)
        recent = median[index > now_index - _LEVEL_BUCKETS]
        level = float(np.median(recent)) if recent.size else math.nan
        change: dict[str, float] = {}
        slope: dict[str, float] = {}
        points: dict[str, int] = {}
        for label, horizon_s, edge_s in HORIZONS:
            h, e = horizon_s // BUCKET_S, edge_s // BUCKET_S
            inside = index > now_index - h
            points[label] = int(inside.sum())
            end = median[index > now_index - e]
            start = median[inside & (index <= now_index - h + e)]
            change[label] = float(np.median(end) - np.median(start)) if end.size and start.size else math.nan
            idx = index[inside]
            if idx.size >= 3 and (idx.max() - idx.min() + 1) * 2 >= h:
                t_h = (idx.astype(np.float64) - now_index + 0.5) * (BUCKET_S / 3600.0)
                slope[label] = theil_sen_slope(t_h, median[inside])
            else:
                slope[label] = math.nan
        return TrendSnapshot(
            signal=self.signal,
            now_ns=now_ns,
            level=level,
            baseline=self._baseline,
            baseline_scale=self._scale,
            deviation=level - self._baseline,
            change=change,
            slope_per_h=slope,
            points=points,
        )

    # --- state -----------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """The whole state as plain numbers, strings, lists and ``None`` (JSON-safe: no NaN)."""
        return {
            "version": _STATE_VERSION,
            "signal": self.signal,
            "config": {
                "baseline_tau_s": self.baseline_tau_s,
                "baseline_init_s": self.baseline_init_s,
                "huber_k": self.huber_k,
                "scale_floor": self.scale_floor,
                "max_samples_per_minute": self.max_samples_per_minute,
            },
            "closed_index": [i for i, _ in self._closed],
            "closed_median": [m for _, m in self._closed],
            "open_index": self._open_index,
            "open_values": list(self._open_values),
            "baseline": _none_if_nan(self._baseline),
            "scale": _none_if_nan(self._scale),
            "floor": _none_if_nan(self._floor),
            "init_start": self._init_start,
            "init_values": list(self._init_values),
            "counts": [self.samples, self.late, self.overflow],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "SignalTrend":
        """Rebuild a tracker from :meth:`to_state`; it continues exactly where the original was."""
        if state.get("version") != _STATE_VERSION:
            raise SchemaValidationError("$.version", f"{state.get('version')!r} is not trend state version {_STATE_VERSION}")
        trend = cls(state["signal"], **state["config"])
        trend._closed = deque(zip((int(i) for i in state["closed_index"]), (float(m) for m in state["closed_median"])))
        trend._open_index = None if state["open_index"] is None else int(state["open_index"])
        trend._open_values = [float(v) for v in state["open_values"]]
        trend._baseline = _nan_if_none(state["baseline"])
        trend._scale = _nan_if_none(state["scale"])
        trend._floor = _nan_if_none(state["floor"])
        trend._init_start = None if state["init_start"] is None else int(state["init_start"])
        trend._init_values = [float(v) for v in state["init_values"]]
        trend.samples, trend.late, trend.overflow = (int(c) for c in state["counts"])
        return trend


class ChartedRecency:
    """Time since each kind of charted event was last charted for one patient.

    >>> recency = ChartedRecency()
    >>> recency.seconds_since("consciousness", 1_790_000_000_000_000_000)
    nan
    """

    def __init__(self) -> None:
        self._last: dict[str, tuple[int, str]] = {}

    def update(self, event: ChartedEvent) -> None:
        """Record ``event`` unless a later one of the same kind is already known."""
        seen = self._last.get(event.event)
        if seen is None or event.timestamp_ns >= seen[0]:
            self._last[event.event] = (event.timestamp_ns, event.value)

    def seconds_since(self, kind: str, now_ns: int) -> float:
        """Seconds from the last ``kind`` event to ``now_ns``; NaN if never charted."""
        if kind not in CHARTED_EVENTS:
            raise SchemaValidationError("$.event", f"{kind!r} is not a charted event kind")
        seen = self._last.get(kind)
        return math.nan if seen is None else (now_ns - seen[0]) / 1e9

    def last_timestamp(self, kind: str) -> int | None:
        """Timestamp of the last ``kind`` event, ``None`` if never charted."""
        seen = self._last.get(kind)
        return None if seen is None else seen[0]

    def last_value(self, kind: str) -> str | None:
        """The value of the last ``kind`` event (``""`` for events without one), ``None`` if never charted."""
        seen = self._last.get(kind)
        return None if seen is None else seen[1]

    def snapshot(self, now_ns: int) -> dict[str, float]:
        """Seconds since the last event of every charted kind (NaN where never charted)."""
        return {kind: self.seconds_since(kind, now_ns) for kind in CHARTED_EVENTS}

    def to_state(self) -> dict[str, Any]:
        """Plain-data state: ``{"version": 1, "last": {kind: [timestamp_ns, value]}}``."""
        return {"version": _STATE_VERSION, "last": {k: [ts, v] for k, (ts, v) in self._last.items()}}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "ChartedRecency":
        """Rebuild from :meth:`to_state`."""
        if state.get("version") != _STATE_VERSION:
            raise SchemaValidationError("$.version", f"{state.get('version')!r} is not recency state version {_STATE_VERSION}")
        recency = cls()
        recency._last = {k: (int(ts), str(v)) for k, (ts, v) in state["last"].items()}
        return recency
