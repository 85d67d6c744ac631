"""From waveform chunks to derived values: the signal agent's pure core.

A :class:`WaveformAnalyzer` follows one signal of one patient, chunk after chunk:

=========================== ========================================================================
signal                      Features it emits (source, values)
=========================== ========================================================================
ECG leads                   ``ecg``: ``ecg.hr_bpm`` (streaming QRS detector, median RR over 10 s),
                            ``ecg.sqi`` (0-1), ``ecg.beats`` (beats in the window)
``MDC_PULS_OXIM_PLETH``     ``ppg``: ``ppg.pulse_rate_bpm``, ``ppg.perfusion_index_pct``, ``ppg.sqi``
``MDC_IMPED_TTHOR``         ``resp``: ``resp.rr_bpm`` (spectral, 60-s window)
accelerometer x/y/z         ``motion``: ``motion.level_ms2``; flag ``motion`` above the threshold
=========================== ========================================================================

It emits every ``emit_every_s`` of signal time, stamped at the end of the last chunk, and carries
the chunks' quality flags (``lead_off``, ``probe_off``) into the Features. A gap in the signal (a
chunk that starts more than 50 ms, or 1.5 samples, away from where the last one ended) restarts
the analyzer: beats are never counted across a gap. The state is the detectors' filter state and a few seconds of samples; it is
kept in the worker's memory, not in a changelog (a replacement worker rebuilds it from the next
10 s of signal, about the time a bedside monitor takes after a lead change).

>>> import numpy as np
>>> from wardwatch.streams.records import WaveformChunk
>>> an = WaveformAnalyzer("MDC_PULS_OXIM_PLETH", 125.0, emit_every_s=5.0)
>>> t = np.arange(125 * 12) / 125.0
>>> wave = 1.0 + 0.05 * (0.5 + 0.5 * np.sin(2 * np.pi * 1.25 * t)) ** 4   # 75 pulses/min
>>> out = []
>>> for k in range(12):
...     c = WaveformChunk.from_array(wave[k * 125:(k + 1) * 125], patient_ref="p-0123456789abcdef0123",
...         ward="w", bed="1", device_id="d", signal="MDC_PULS_OXIM_PLETH", unit="1", fs_hz=125.0,
...         start_ns=1_790_000_000_000_000_000 + k * 10**9)
...     out += an.process(c)
>>> round(out[-1].values["ppg.pulse_rate_bpm"])
75
"""

from __future__ import annotations

import math

import numpy as np

from wardwatch.models.signal.ecg import StreamingQRSDetector, heart_rate_bpm
from wardwatch.models.signal.motion import is_motion, motion_level_ms2
from wardwatch.models.signal.ppg import detect_pulses, perfusion_index_pct, pulse_rate_bpm
from wardwatch.models.signal.quality import ecg_sqi, ppg_sqi
from wardwatch.models.signal.resp import respiration_rate_bpm
from wardwatch.streams.records import Features, WaveformChunk

__all__ = ["WaveformAnalyzer", "MotionAnalyzer", "ECG_SIGNALS", "ACCEL_SIGNALS", "analyzable"]

ECG_SIGNALS = frozenset({"MDC_ECG_ELEC_POTL_I", "MDC_ECG_ELEC_POTL_II", "MDC_ECG_ELEC_POTL_III",
                         "MDC_ECG_ELEC_POTL_V", "MDC_ECG_ELEC_POTL_AVR", "MDC_ECG_ELEC_POTL_AVF"})
ACCEL_SIGNALS = ("WARDWATCH_ACCEL_X", "WARDWATCH_ACCEL_Y", "WARDWATCH_ACCEL_Z")
_WINDOW_S = {"ecg": 10.0, "ppg": 10.0, "resp": 60.0}
#: A chunk that starts within this of where the last one ended continues the signal; further is a gap.
_SLACK_NS = 50_000_000


def analyzable(signal: str) -> bool:
    """Whether a waveform signal has an analyzer (others are stored but not analyzed)."""
    return signal in ECG_SIGNALS or signal in ("MDC_PULS_OXIM_PLETH", "MDC_IMPED_TTHOR") or signal in ACCEL_SIGNALS


class WaveformAnalyzer:
    """Derived values of one waveform signal of one patient (ECG lead, PLETH or respiration)."""

    def __init__(self, signal: str, fs_hz: float, emit_every_s: float = 5.0) -> None:
        if signal in ECG_SIGNALS:
            self.kind = "ecg"
        elif signal == "MDC_PULS_OXIM_PLETH":
            self.kind = "ppg"
        elif signal == "MDC_IMPED_TTHOR":
            self.kind = "resp"
        else:
            raise ValueError(f"no analyzer for {signal}")
        self.signal, self.fs_hz, self.emit_every_s = signal, float(fs_hz), emit_every_s
        self._reset(None)

    def _reset(self, start_ns: int | None) -> None:
        self._t0_ns = start_ns  # time of absolute sample 0
        self._n = 0  # samples seen since the (re)start
        self._buf = np.zeros(0, dtype=np.float64)
        self._beats: list[int] = []
        self._qrs = StreamingQRSDetector(self.fs_hz) if self.kind == "ecg" else None
        self._next_emit_ns = 0
        self._flags: set[str] = set()

    def _expected_start(self) -> int | None:
        if self._t0_ns is None:
            return None
        return self._t0_ns + round(self._n * 1e9 / self.fs_hz)

    def process(self, chunk: WaveformChunk) -> list[Features]:
        """Take the next chunk of this signal; return the Features due (usually none)."""
        expected = self._expected_start()
        period = 1e9 / self.fs_hz
        slack = max(1.5 * period, _SLACK_NS)
        if chunk.fs_hz != self.fs_hz or expected is None or abs(chunk.start_ns - expected) > slack:
            if expected is not None and chunk.start_ns < expected - slack:
                return []  # old or repeated chunk (a replay): ignore
            self.fs_hz = chunk.fs_hz
            self._reset(chunk.start_ns)
        elif chunk.start_ns != expected:
            # a device whose chunks hold a whole number of samples at a fractional rate (62 at
            # 62.5 Hz) drifts by part of a sample per chunk: follow the chunks' own clock
            self._t0_ns = chunk.start_ns - round(self._n * 1e9 / self.fs_hz)
        x = chunk.values().astype(np.float64)
        finite = np.isfinite(x)
        if not finite.all():
            x = np.where(finite, x, 0.0)
            self._flags.add("lead_off" if self.kind == "ecg" else "probe_off")
        self._flags.update(chunk.quality)
        if self._qrs is not None:
            self._beats.extend(int(b) for b in self._qrs.process(x))
        window = int(_WINDOW_S[self.kind] * self.fs_hz)
        self._buf = np.concatenate([self._buf, x])[-window:]
        self._n += x.size
        end_ns = self._expected_start() or chunk.end_ns
        if end_ns < self._next_emit_ns:
            return []
        step = round(self.emit_every_s * 1e9)
        self._next_emit_ns = (end_ns // step + 1) * step
        values = self._values(window)
        flags = tuple(sorted(self._flags))
        self._flags = set()
        return [Features(patient_ref=chunk.patient_ref, ward=chunk.ward, bed=chunk.bed, timestamp_ns=end_ns,
                         source=self.kind, values=values, flags=flags)]

    def _values(self, window: int) -> dict[str, float]:
        fs, buf = self.fs_hz, self._buf
        if self.kind == "ecg":
            first = self._n - window
            beats = np.array([b for b in self._beats if b >= first], dtype=np.int64)
            self._beats = [int(b) for b in beats]
            return {"ecg.hr_bpm": heart_rate_bpm(beats, fs), "ecg.sqi": ecg_sqi(buf, fs), "ecg.beats": float(beats.size)}
        if self.kind == "ppg":
            pulses = detect_pulses(buf, fs)
            return {
                "ppg.pulse_rate_bpm": pulse_rate_bpm(pulses.peaks, fs),
                "ppg.perfusion_index_pct": perfusion_index_pct(buf, pulses),
                "ppg.sqi": ppg_sqi(buf, fs, pulses),
            }
        rr = respiration_rate_bpm(buf, fs) if buf.size >= 0.5 * window else math.nan
        return {"resp.rr_bpm": rr}


class MotionAnalyzer:
    """Motion level of a wearable's accelerometer: the x, y and z chunks of one second together."""

    def __init__(self) -> None:
        self._pending: dict[int, dict[str, WaveformChunk]] = {}

    def process(self, chunk: WaveformChunk) -> list[Features]:
        axes = self._pending.setdefault(chunk.start_ns, {})
        axes[chunk.signal] = chunk
        for start in [s for s in self._pending if s < chunk.start_ns - 10**10]:
            del self._pending[start]  # an axis never came: give up on that second
        if len(axes) < 3:
            return []
        del self._pending[chunk.start_ns]
        x, y, z = (axes[s].values() for s in ACCEL_SIGNALS)
        level = motion_level_ms2(x, y, z, chunk.fs_hz)
        flags = ("motion",) if is_motion(level) else ()
        return [Features(patient_ref=chunk.patient_ref, ward=chunk.ward, bed=chunk.bed, timestamp_ns=chunk.end_ns,
                         source="motion", values={"motion.level_ms2": level}, flags=flags)]
