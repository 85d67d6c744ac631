"""ECG: a streaming QRS detector, RR intervals and heart rate.

The live pipeline hands the detector about one second of one lead at a time. It is a
Pan–Tompkins-style detector with additions for noisy ward ECGs (rules 3 and 4 below):

1. a causal band-pass (Butterworth, 5–18 Hz) and a first difference, whose square is averaged
   over 120 ms; its square root is the *envelope* (RMS slope, linear in amplitude);
2. candidates are the envelope's local maxima over ±200 ms, so two beats are never closer than
   the 200 ms refractory period;
3. adaptive thresholds: a running signal level ``spk`` and noise level ``npk`` (exponential
   averages of the envelope at beats and at rejected candidates); a candidate above
   ``npk + 0.3·(spk - npk)`` is a beat unless
   - it comes within max(360 ms, 0.6 mean RR) of the previous beat with less than 0.6 of its
     steepest slope (a T wave), or
   - it stands less than 2.2 times above the local noise floor (median envelope of the last
     1.5 s) *and* correlates less than 0.5 with the running beat template (muscle noise);
4. search-back: when no beat has come for 1.66 mean RR intervals (2 s at most), the largest
   rejected candidate since the last beat is taken if it is above half the threshold, no
   earlier than 0.6 mean RR after that beat, not a T wave and not noise by rule 3;
5. the R peak is the largest deflection of the 8–40 Hz band (delay-corrected) in the 200 ms
   before the envelope peak, refined to the largest deflection of a 0.5–40 Hz copy within ±30 ms.

Everything after the filters is a sequence of decisions taken in time order, each looking at
most :attr:`StreamingQRSDetector.lookahead_samples` ahead, so feeding a record in chunks of any
size finds exactly the beats that one call on the whole record finds; :func:`detect_qrs` *is*
that one call. Accuracy on real recordings: ``bench/reports/qrs.md``.

>>> import numpy as np
>>> fs_hz = 250.0
>>> t = np.arange(int(10 * fs_hz)) / fs_hz
>>> ecg = sum(np.exp(-((t - b) ** 2) / (2 * 0.012**2)) for b in np.arange(0.5, 10, 0.8))
>>> peaks = detect_qrs(ecg, fs_hz)
>>> round(heart_rate_bpm(peaks, fs_hz))
75
>>> det = StreamingQRSDetector(fs_hz)
>>> streamed = [det.process(ecg[i:i + 250]) for i in range(0, ecg.size, 250)] + [det.flush()]
>>> bool(np.array_equal(np.concatenate(streamed), peaks))
True
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray
from scipy.ndimage import maximum_filter1d
from scipy.signal import butter

from wardwatch.models.signal.filters import CausalFilter, SampleBuffer, as_samples, group_delay_samples

logger = logging.getLogger(__name__)

__all__ = ["QRSConfig", "StreamingQRSDetector", "detect_qrs", "rr_intervals_s", "heart_rate_bpm"]

_ENV, _SLOPE, _LEAD, _QRS = 0, 1, 2, 3  # rows of the sample buffer


@dataclass(frozen=True)
class QRSConfig:
    """Constants of :class:`StreamingQRSDetector` (times in seconds, bands in Hz, the rest ratios).

    The defaults are the ones measured in ``bench/reports/qrs.md``.
    """

    band_hz: tuple[float, float] = (5.0, 18.0)
    integration_s: float = 0.12
    refractory_s: float = 0.2
    learning_s: float = 2.0
    threshold_fraction: float = 0.3
    signal_weight: float = 0.125
    twave_s: float = 0.36
    twave_rr: float = 0.6
    twave_slope_ratio: float = 0.6
    floor_s: float = 1.5
    noise_floor_ratio: float = 2.2
    noise_max_corr: float = 0.5
    searchback_rr: float = 1.66
    searchback_min_rr: float = 0.6
    max_searchback_s: float = 2.0
    silence_decay: float = 0.5
    lead_band_hz: tuple[float, float] = (0.5, 40.0)
    qrs_band_hz: tuple[float, float] = (8.0, 40.0)
    locate_back_s: float = 0.2
    locate_skip_s: float = 0.02
    locate_near_s: float = 0.03
    template_pre_s: float = 0.1
    template_post_s: float = 0.35
    template_weight: float = 0.1

    def __post_init__(self) -> None:
        for name in ("band_hz", "lead_band_hz", "qrs_band_hz"):
            lo, hi = getattr(self, name)
            if not 0 < lo < hi:
                raise ValueError(f"{name} must be 0 < low < high, got {(lo, hi)}")
        for name in ("integration_s", "refractory_s", "learning_s", "twave_s", "floor_s",
                     "max_searchback_s", "locate_back_s", "locate_near_s", "template_pre_s", "template_post_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not self.locate_skip_s < self.locate_back_s:
            raise ValueError("locate_skip_s must be shorter than locate_back_s")


@dataclass(slots=True)
class _Candidate:
    """A local maximum of the envelope and what the decision needs to know about it."""

    i: int  # envelope index
    value: float  # envelope value
    slope: float  # steepest QRS-band slope just before
    r: int  # R-peak index
    floor: float  # median envelope around it: the local noise floor
    shape: NDArray[np.float64]  # lead around r, for the template
    corr: float = float("nan")  # correlation with the beat template, set when judged
    twave: bool = False  # judged a T wave: never taken back


def _bandpass(band_hz: tuple[float, float], fs_hz: float) -> NDArray[np.float64]:
    lo, hi = band_hz
    return np.asarray(butter(2, [lo, min(hi, 0.45 * fs_hz)], btype="bandpass", fs=fs_hz, output="sos"))


def _median(x: NDArray[np.float64]) -> float:
    """Median of a 1-D array (np.median without its generic-axis overhead)."""
    n = x.size
    if n == 0:
        return 0.0
    k = n // 2
    part = np.partition(x, [k - 1, k] if n % 2 == 0 else k)
    return float(part[k]) if n % 2 else 0.5 * float(part[k - 1] + part[k])


class StreamingQRSDetector:
    """QRS detection on a chunked ECG lead, state carried between chunks.

    Parameters
    ----------
    fs_hz : float
        Sampling rate of the lead (measured at 125–500 Hz).
    config : QRSConfig, optional
        Detector constants.

    Notes
    -----
    :meth:`process` returns the R peaks (absolute sample indices counted from the first sample
    ever fed) that became certain during that call; :meth:`flush` returns the rest at the end
    of a record. Concatenated, they are the beats of the whole record, in order. The first
    beats wait for the learning period (``learning_s`` plus the look-ahead); after it a beat is
    reported at most :attr:`latency_samples` after its R peak. One detector serves one
    continuous recording: after :meth:`flush`, start a new one.
    """

    def __init__(self, fs_hz: float, config: QRSConfig | None = None) -> None:
        if not fs_hz > 0:
            raise ValueError(f"fs_hz must be > 0, got {fs_hz}")
        self.fs_hz = fs = float(fs_hz)
        self.config = cfg = config or QRSConfig()

        def n(seconds: float) -> int:
            return max(int(round(seconds * fs)), 1)

        self._bp = CausalFilter(_bandpass(cfg.band_hz, fs))
        lead_sos = _bandpass(cfg.lead_band_hz, fs)
        self._lead = CausalFilter(lead_sos)
        self._lead_delay = group_delay_samples(lead_sos, 10.0, fs)
        qrs_sos = _bandpass(cfg.qrs_band_hz, fs)
        self._qrs = CausalFilter(qrs_sos)
        self._qrs_delay = group_delay_samples(qrs_sos, float(np.sqrt(np.prod(cfg.qrs_band_hz))), fs)
        self._ma_n = n(cfg.integration_s)
        self._ma_tail = np.zeros(self._ma_n - 1)  # the last squared slopes, for the moving average
        self._prev_bp: float | None = None
        self._w = n(cfg.refractory_s)
        self._back = n(cfg.locate_back_s)
        self._skip = int(round(cfg.locate_skip_s * fs))
        self._near = n(cfg.locate_near_s)
        self._twave = n(cfg.twave_s)
        self._learn_n = n(cfg.learning_s)
        self._max_sb = n(cfg.max_searchback_s)
        self._floor_back = n(cfg.floor_s)
        self._pre = n(cfg.template_pre_s)
        self._post = n(cfg.template_post_s)
        self._ahead = max(self._w, self._post)
        self._margin = max(self._w, self._back + self._qrs_delay + self._near + self._lead_delay + self._pre, self._floor_back) + 1

        self._buf = SampleBuffer(4)
        self._scan = 0  # next envelope index to examine
        self._pending: list[_Candidate] = []  # found, not yet judged
        self._noise: list[_Candidate] = []  # rejected since the last beat
        self._learning = True
        self._spk = 0.0
        self._npk = 0.0
        self._last_r = -(10**12)
        self._last_i = -(10**12)
        self._last_slope = 0.0
        self._sb_from = 0  # envelope index the search-back clock runs from
        self._rr: list[int] = []
        self._template: NDArray[np.float64] | None = None
        self._out: list[int] = []

    # --- properties ----------------------------------------------------------------------
    @property
    def lookahead_samples(self) -> int:
        """Samples a candidate needs after it before it is judged."""
        return self._ahead

    @property
    def latency_samples(self) -> int:
        """Most samples between an R peak and the call that reports it, after learning."""
        return self._max_sb + self._ahead + self._back + self._qrs_delay + self._near + 1

    @property
    def samples_seen(self) -> int:
        """Samples fed so far."""
        return self._buf.end

    # --- public API ----------------------------------------------------------------------
    def process(self, chunk: ArrayLike) -> NDArray[np.int64]:
        """Feed the next chunk; return the R peaks confirmed during this call."""
        x = as_samples(chunk)
        if x.size:
            self._buf.append(self._derive(x))
            self._advance(final=False)
        return self._take()

    def flush(self) -> NDArray[np.int64]:
        """End of record: judge what is left without look-ahead; return the last R peaks."""
        self._advance(final=True)
        return self._take()

    # --- signal path ---------------------------------------------------------------------
    def _derive(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        bp = self._bp.apply(x)
        d = np.diff(bp, prepend=bp[0] if self._prev_bp is None else self._prev_bp)
        self._prev_bp = float(bp[-1])
        ext = np.concatenate([self._ma_tail, d * d])
        self._ma_tail = ext[ext.size - (self._ma_n - 1):]
        # each output sums the same values in the same order whatever the chunking
        energy = sliding_window_view(ext, self._ma_n).sum(axis=1) / self._ma_n
        env = np.sqrt(np.maximum(energy, 0.0))
        return np.vstack([env, np.abs(d), self._lead.apply(x), self._qrs.apply(x)])

    def _take(self) -> NDArray[np.int64]:
        out = np.asarray(self._out, dtype=np.int64)
        self._out = []
        return out

    def _find_candidates(self, final: bool) -> None:
        buf, w = self._buf, self._w
        stop = buf.end if final else buf.end - self._ahead
        if stop <= self._scan:
            return
        lo = max(self._scan - w, buf.start)
        env = buf.view(_ENV, lo, buf.end)
        peak = maximum_filter1d(env, size=2 * w + 1, mode="constant", cval=-np.inf)
        rel = np.arange(self._scan - lo, stop - lo)
        prev = np.where(rel > 0, env[np.maximum(rel - 1, 0)], -np.inf)
        hits = rel[(env[rel] >= peak[rel]) & (env[rel] > prev) & (env[rel] > 0.0)]
        for k in hits:
            i = int(k) + lo
            r = self._locate_r(i)
            self._pending.append(_Candidate(
                i=i,
                value=float(env[k]),
                slope=float(np.max(buf.view(_SLOPE, i - self._back, i + 1))),
                r=r,
                floor=_median(buf.view(_ENV, i - self._floor_back, i + w)),
                shape=np.array(buf.view(_LEAD, r - self._pre, r + self._post)),
            ))
        self._scan = stop

    def _locate_r(self, i: int) -> int:
        """R peak of the QRS whose envelope peaks at ``i``."""
        buf = self._buf
        lo = max(i - self._back, buf.start)
        seg = buf.view(_QRS, lo, i + 1 - self._skip)
        j = lo + (int(np.argmax(np.abs(seg))) if seg.size else 0) - self._qrs_delay
        near_lo = max(j - self._near, buf.start)
        near = buf.view(_LEAD, near_lo, j + self._near + 1)
        if near.size == 0:
            return j
        return max(near_lo + int(np.argmax(np.abs(near))) - self._lead_delay, 0)

    # --- decisions -----------------------------------------------------------------------
    def _advance(self, final: bool) -> None:
        self._find_candidates(final)
        if self._learning:
            if self._scan < self._learn_n and not final:
                return
            learn = [c.value for c in self._pending if c.i < self._learn_n] or [0.0]
            self._spk = 0.5 * float(np.max(learn))
            self._npk = 0.5 * float(np.median(learn))
            self._learning = False
        for cand in self._pending:
            self._searchback_until(cand.i)
            self._classify(cand)
        self._pending = []
        self._searchback_until(self._buf.end if final else self._scan)
        self._buf.discard_before(self._scan - self._margin)

    def _threshold(self) -> float:
        return self._npk + self.config.threshold_fraction * (self._spk - self._npk)

    def _rr_mean(self) -> float:
        if not self._rr:
            return self._max_sb / self.config.searchback_rr
        return sum(self._rr) / len(self._rr)

    def _correlation(self, shape: NDArray[np.float64]) -> float:
        t = self._template
        if t is None or shape.size != t.size:
            return float("nan")
        a = shape - shape.sum() / shape.size
        b = t - t.sum() / t.size
        den = float(np.sqrt(np.sum(a * a) * np.sum(b * b)))
        return float(np.sum(a * b)) / den if den > 0 else float("nan")

    def _is_noise(self, cand: _Candidate) -> bool:
        """Barely above the local noise floor and unlike the beats so far."""
        cfg = self.config
        return cand.corr < cfg.noise_max_corr and cand.value < cfg.noise_floor_ratio * cand.floor

    def _classify(self, cand: _Candidate) -> None:
        cfg = self.config
        if cand.r - self._last_r < self._w:
            return
        cand.corr = self._correlation(cand.shape)
        if cand.value > self._threshold():
            soon = max(self._twave, cfg.twave_rr * self._rr_mean())
            cand.twave = cand.r - self._last_r < soon and cand.slope < cfg.twave_slope_ratio * self._last_slope
            if not (cand.twave or self._is_noise(cand)):
                self._accept(cand, weight=cfg.signal_weight)
                return
        self._npk += cfg.signal_weight * (cand.value - self._npk)
        self._noise.append(cand)

    def _searchback_until(self, index: int) -> None:
        """Run, in order, every search-back that falls due before envelope index ``index``."""
        cfg = self.config
        while True:
            due = self._sb_from + int(min(cfg.searchback_rr * self._rr_mean(), float(self._max_sb)))
            if due >= index:
                return
            floor = 0.5 * self._threshold()
            earliest = self._last_r + cfg.searchback_min_rr * self._rr_mean()
            best: _Candidate | None = None
            for c in self._noise:
                if (c.i <= due and c.value > floor and c.r >= earliest and not c.twave
                        and not self._is_noise(c) and (best is None or c.value > best.value)):
                    best = c
            if best is None:
                # nothing to take back: restart the clock and lower the signal level, so that
                # one large artefact cannot hold the threshold above every later beat
                self._noise = [c for c in self._noise if c.i > due]
                self._sb_from = due
                self._spk = max(self._npk, self._spk * cfg.silence_decay)
                continue
            self._accept(best, weight=0.25)

    def _accept(self, cand: _Candidate, weight: float) -> None:
        if self._last_r >= 0:
            self._rr.append(cand.r - self._last_r)
            del self._rr[:-8]
        self._spk += weight * (cand.value - self._spk)
        self._last_r, self._last_i, self._last_slope = cand.r, cand.i, cand.slope
        self._sb_from = cand.i
        self._noise = [c for c in self._noise if c.i > cand.i]
        if cand.shape.size == self._pre + self._post:
            if self._template is None:
                self._template = cand.shape.copy()
            else:
                self._template += self.config.template_weight * (cand.shape - self._template)
        self._out.append(cand.r)


def detect_qrs(signal: ArrayLike, fs_hz: float, config: QRSConfig | None = None) -> NDArray[np.int64]:
    """R-peak sample indices of a whole ECG lead: the streaming detector fed in one chunk.

    Parameters
    ----------
    signal : array_like, 1-D
        One ECG lead in any unit (the detector is scale-free); NaN samples hold the last value.
    fs_hz : float
        Sampling rate.
    config : QRSConfig, optional
        Detector constants.

    Returns
    -------
    ndarray of int64
        Sorted R-peak indices; empty for an empty or flat signal.
    """
    det = StreamingQRSDetector(fs_hz, config)
    return np.concatenate([det.process(signal), det.flush()]).astype(np.int64)


def rr_intervals_s(peaks: ArrayLike, fs_hz: float) -> NDArray[np.float64]:
    """Intervals between successive R peaks in seconds (empty with fewer than two peaks)."""
    p = np.asarray(peaks, dtype=np.float64)
    return np.diff(p) / float(fs_hz) if p.size >= 2 else np.zeros(0)


def heart_rate_bpm(peaks: ArrayLike, fs_hz: float) -> float:
    """Heart rate in beats/min: 60 over the median RR interval; NaN with fewer than two beats.

    The median keeps one missed or extra beat in the window from moving the rate much.
    """
    rr = rr_intervals_s(peaks, fs_hz)
    if rr.size == 0:
        return float("nan")
    return 60.0 / float(np.median(rr))
