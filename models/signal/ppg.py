"""PPG (plethysmogram): streaming pulse detection, pulse rate and perfusion index.

The detector follows the same streaming design as the QRS detector: causal filters whose state
survives between chunks, then decisions taken in time order with a fixed look-ahead, so chunks
of any size give exactly the pulses of one call on the whole record (:func:`detect_pulses`).

1. a causal band-pass (0.5–8 Hz) removes the baseline and the high-frequency noise;
2. candidates are its local maxima over ±250 ms (at most 240 pulses/min);
3. a candidate's *amplitude* is its height above the lowest point since the previous pulse
   (600 ms at most); it is a pulse when that amplitude reaches 35 % of the running pulse
   amplitude (an exponential average of the accepted ones, started from half the largest in the
   first 3 s), and, if it comes within 450 ms of the previous pulse, 70 % of that pulse's
   amplitude: this rejects the dicrotic wave and small artefacts;
4. the systolic peak and the foot (onset) are placed on a low-passed (8 Hz) copy: the peak is
   its maximum near the candidate (delay-corrected), the foot its minimum in the 600 ms before
   (never before the previous peak).

>>> import numpy as np
>>> fs_hz = 125.0
>>> t = np.arange(int(20 * fs_hz)) / fs_hz
>>> pleth = 2.0 + 0.05 * np.sin(2 * np.pi * 1.2 * t) + 0.02 * np.sin(2 * np.pi * 2.4 * t)
>>> pulses = detect_pulses(pleth, fs_hz)
>>> round(pulse_rate_bpm(pulses.peaks, fs_hz))
72
>>> round(perfusion_index_pct(pleth, pulses), 1)  # peak-to-foot 0.117 over DC 2.0
6.1
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.ndimage import maximum_filter1d
from scipy.signal import butter

from wardwatch.models.signal.filters import CausalFilter, SampleBuffer, as_samples, group_delay_samples

logger = logging.getLogger(__name__)

__all__ = [
    "PulseConfig",
    "Pulses",
    "StreamingPulseDetector",
    "detect_pulses",
    "pulse_rate_bpm",
    "perfusion_index_pct",
]

_BP, _LP = 0, 1


@dataclass(frozen=True)
class PulseConfig:
    """Constants of :class:`StreamingPulseDetector` (times in seconds, bands in Hz)."""

    band_hz: tuple[float, float] = (0.5, 8.0)
    refractory_s: float = 0.25
    foot_window_s: float = 0.6
    learning_s: float = 3.0
    amplitude_fraction: float = 0.35
    weight: float = 0.125
    dicrotic_s: float = 0.45
    dicrotic_ratio: float = 0.7

    def __post_init__(self) -> None:
        lo, hi = self.band_hz
        if not 0 < lo < hi:
            raise ValueError(f"band_hz must be 0 < low < high, got {self.band_hz}")
        for name in ("refractory_s", "foot_window_s", "learning_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")


class Pulses(NamedTuple):
    """Pulses found: systolic peak and foot sample indices, one of each per pulse."""

    peaks: NDArray[np.int64]
    feet: NDArray[np.int64]


class StreamingPulseDetector:
    """Pulse detection on a chunked PLETH signal, state carried between chunks.

    Parameters
    ----------
    fs_hz : float
        Sampling rate (measured at 125–250 Hz).
    config : PulseConfig, optional
        Detector constants.
    """

    def __init__(self, fs_hz: float, config: PulseConfig | None = None) -> None:
        if not fs_hz > 0:
            raise ValueError(f"fs_hz must be > 0, got {fs_hz}")
        self.fs_hz = fs = float(fs_hz)
        self.config = cfg = config or PulseConfig()
        lo, hi = cfg.band_hz
        hi = min(hi, 0.45 * fs)
        bp = np.asarray(butter(2, [lo, hi], btype="bandpass", fs=fs, output="sos"))
        lp = np.asarray(butter(2, hi, btype="lowpass", fs=fs, output="sos"))
        self._bp = CausalFilter(bp)
        self._lp = CausalFilter(lp)
        self._lp_delay = group_delay_samples(lp, 1.0, fs)
        self._delay = group_delay_samples(bp, float(np.sqrt(lo * hi)), fs) - self._lp_delay
        self._w = max(int(round(cfg.refractory_s * fs)), 1)
        self._foot = max(int(round(cfg.foot_window_s * fs)), 1)
        self._learn_n = max(int(round(cfg.learning_s * fs)), 1)
        self._near = max(self._w // 2, 1)
        self._ahead = self._w + self._near
        self._margin = self._delay + self._near + 2 * self._foot + self._w + 1
        self._buf = SampleBuffer(2)
        self._scan = 0
        self._pending: list[tuple[int, float]] = []  # (index, band-passed value)
        self._last_i = -(10**12)  # band-passed index of the last pulse
        self._last_amp = 0.0
        self._dicrotic = max(int(round(cfg.dicrotic_s * fs)), 1)
        self._level = 0.0
        self._learning = True
        self._last_peak = -(10**12)
        self._peaks: list[int] = []
        self._feet: list[int] = []

    @property
    def lookahead_samples(self) -> int:
        """Samples a candidate needs after it before it is judged."""
        return self._ahead

    def process(self, chunk: ArrayLike) -> Pulses:
        """Feed the next chunk; return the pulses confirmed during this call."""
        x = as_samples(chunk)
        if x.size:
            self._buf.append(np.vstack([self._bp.apply(x), self._lp.apply(x)]))
            self._advance(final=False)
        return self._take()

    def flush(self) -> Pulses:
        """End of record: judge what is left; return the last pulses."""
        self._advance(final=True)
        return self._take()

    def _take(self) -> Pulses:
        out = Pulses(np.asarray(self._peaks, dtype=np.int64), np.asarray(self._feet, dtype=np.int64))
        self._peaks, self._feet = [], []
        return out

    def _advance(self, final: bool) -> None:
        buf, w = self._buf, self._w
        stop = buf.end if final else buf.end - self._ahead
        if stop > self._scan:
            lo = max(self._scan - max(w, self._foot), buf.start)
            y = buf.view(_BP, lo, buf.end)
            top = maximum_filter1d(y, size=2 * w + 1, mode="constant", cval=-np.inf)
            rel = np.arange(self._scan - lo, stop - lo)
            prev = np.where(rel > 0, y[np.maximum(rel - 1, 0)], -np.inf)
            for k in rel[(y[rel] >= top[rel]) & (y[rel] > prev) & (y[rel] > 0.0)]:
                self._pending.append((int(k) + lo, float(y[k])))
            self._scan = stop
        if self._learning:
            if self._scan < self._learn_n and not final:
                return
            learn = [self._amplitude(i, v) for i, v in self._pending if i < self._learn_n] or [0.0]
            self._level = 0.5 * float(np.max(learn))
            self._learning = False
        for i, value in self._pending:
            amp = self._amplitude(i, value)
            if not (amp > 0.0 and amp >= self.config.amplitude_fraction * self._level):
                continue
            # a smaller wave soon after a pulse is its dicrotic wave
            if i - self._last_i < self._dicrotic and amp < self.config.dicrotic_ratio * self._last_amp:
                continue
            self._accept(i, amp)
        self._pending = []
        buf.discard_before(self._scan - self._margin)

    def _amplitude(self, i: int, value: float) -> float:
        """Height above the lowest point since the last pulse (600 ms at most)."""
        seg = self._buf.view(_BP, max(i - self._foot, self._last_i + 1), i + 1)
        return value - float(np.min(seg)) if seg.size else 0.0

    def _accept(self, i: int, amp: float) -> None:
        buf = self._buf
        centre = i - self._delay  # where the low-passed copy peaks
        lo = max(centre - self._near, buf.start)
        seg = buf.view(_LP, lo, centre + self._near + 1)
        top = lo + int(np.argmax(seg)) if seg.size else centre
        peak = top - self._lp_delay
        if peak <= self._last_peak:
            return
        foot_lo = max(top - self._foot, self._last_peak + self._lp_delay + 1, buf.start)
        before = buf.view(_LP, foot_lo, top + 1)
        foot = (foot_lo + int(np.argmin(before)) if before.size else top) - self._lp_delay
        self._level += self.config.weight * (amp - self._level)
        self._last_peak = peak
        self._last_i = i
        self._last_amp = amp
        self._peaks.append(peak)
        self._feet.append(max(foot, 0))


def detect_pulses(signal: ArrayLike, fs_hz: float, config: PulseConfig | None = None) -> Pulses:
    """Pulses of a whole PLETH record: the streaming detector fed in one chunk.

    Parameters
    ----------
    signal : array_like, 1-D
        PLETH samples (any unit; larger = more blood volume, as oximeters output it).
    fs_hz : float
        Sampling rate.

    Returns
    -------
    Pulses
        Systolic peak and foot indices; empty for an empty or flat signal.
    """
    det = StreamingPulseDetector(fs_hz, config)
    a, b = det.process(signal), det.flush()
    return Pulses(np.concatenate([a.peaks, b.peaks]), np.concatenate([a.feet, b.feet]))


def pulse_rate_bpm(peaks: ArrayLike, fs_hz: float) -> float:
    """Pulse rate in pulses/min: 60 over the median peak-to-peak interval; NaN with < 2 pulses."""
    p = np.asarray(peaks, dtype=np.float64)
    if p.size < 2:
        return float("nan")
    return 60.0 * float(fs_hz) / float(np.median(np.diff(p)))


def perfusion_index_pct(signal: ArrayLike, pulses: Pulses) -> float:
    """Perfusion index in %: 100 × pulsatile (AC) over steady (DC) component.

    AC is the median peak-minus-foot height of the pulses, DC the mean of the signal. Only
    meaningful on a raw, unfiltered PLETH with its true zero (an oximeter's IR channel); NaN
    with fewer than two pulses or a non-positive DC.
    """
    x = np.asarray(signal, dtype=np.float64)
    if pulses.peaks.size < 2 or x.size == 0:
        return float("nan")
    dc = float(np.nanmean(x))
    if not dc > 0:
        return float("nan")
    ac = float(np.median(x[pulses.peaks] - x[pulses.feet]))
    return 100.0 * ac / dc
