"""The verify agent: arrhythmia calls on live waveforms, checked by the alarm verifier (issue 5).

=========== ======================================= ================================================
agent       reads                                   writes
=========== ======================================= ================================================
``verify``  ``vitals.waveforms`` (ECG, PLETH, ABP)   ``features`` (source ``verifier``):
                                                    ``arrhythmia.<type>`` 1.0 when a call begins,
                                                    0.0 when it ends; ``verifier.true_alarm_probability``
                                                    when it begins and again 6 s later
=========== ======================================= ================================================

Per patient, :class:`BedMonitor` keeps the last 40 s of ECG lead 1 (II preferred), ECG lead 2 (V,
I or III), PLETH and ABP on one 250 Hz grid (each chunk resampled by linear interpolation; what
never arrived is NaN) and runs the project's streaming QRS detector on lead 1. Each second of
signal, once the detector can no longer add a beat before that second, the 2015 challenge's
alarm definitions are checked on the beats:

* ``asystole``: no QRS for more than 4 s (on at least 4 s of continuous, present ECG);
* ``brady_extreme``: heart rate below 40 /min over the last 5 beats (4 RR intervals);
* ``tachy_extreme``: heart rate above 140 /min over the last 17 beats (16 RR intervals).

Ventricular tachycardia and fibrillation are **not** called here: telling wide ventricular
complexes from aberrant or noisy ones needs more than a beat detector. When a call begins, and again when it has
lasted ``VERIFY_AFTER_S`` (6 s), the last 30 s of the four channels go to the alarm verifier (:mod:`~wardwatch.models.detectors.alarm_verifier`,
one batched call per batch of events, in a thread); a call ends after 5 s without its condition. The
call and P(true alarm) are sent together, so the gated ``arrhythmia.*`` rules of the alarm rules keep a true call and suppress a false one.
If the verifier cannot load, calls are sent without a probability (the rules then pass them
ungated after ``wait_s``). Buffers are in memory, as for the detect-af agent.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from typing import Any

import faust
import numpy as np
from numpy.typing import NDArray

from wardwatch.agents.sinks import dead_letter_event
from wardwatch.config import Settings
from wardwatch.errors import SchemaValidationError
from wardwatch.models.signal.ecg import StreamingQRSDetector
from wardwatch.streams.codec import CONTENT_TYPE, decode, encode
from wardwatch.streams.records import Features, WaveformChunk

__all__ = ["register_verify", "BedMonitor", "Call", "CALL_TYPES", "VERIFY_STAGE", "PROBABILITY_FEATURE", "FS_HZ"]

logger = logging.getLogger(__name__)

VERIFY_STAGE = "verify"
PROBABILITY_FEATURE = "verifier.true_alarm_probability"
FS_HZ = 250
WINDOW_N = 30 * FS_HZ
END_AFTER_S = 5
#: A call still on this many seconds after it began goes to the verifier a second time. The 2015
#: alarms the verifier learned from fire well into the event: scored at its first second, a simulated
#: 12-s asystole got P(true) < 0.01, scored 6 s later 0.83 (seed 42). The arrhythmia rule lets a later
#: verdict of "true" lift a suppression (never the other way round).
VERIFY_AFTER_S = 6
_RING_N = 40 * FS_HZ
_HEADERS = [("content-type", CONTENT_TYPE.encode())]
#: call name -> the 2015 alarm type the verifier knows it as
CALL_TYPES = {"asystole": "Asystole", "brady_extreme": "Bradycardia", "tachy_extreme": "Tachycardia"}
_LEAD1 = ("MDC_ECG_ELEC_POTL_II", "MDC_ECG_ELEC_POTL_I", "MDC_ECG_ELEC_POTL_III", "MDC_ECG_ELEC_POTL_V")
_LEAD2 = ("MDC_ECG_ELEC_POTL_V", "MDC_ECG_ELEC_POTL_I", "MDC_ECG_ELEC_POTL_III", "MDC_ECG_ELEC_POTL_II")
_OTHER = {"MDC_PULS_OXIM_PLETH": "pleth", "MDC_PRESS_BLD_ART_ABP": "abp"}
WATCHED = frozenset(_LEAD1) | frozenset(_OTHER)


@dataclass(frozen=True)
class Call:
    """A call that began (``on``), is due for the verifier (``on`` with its ``window``) or ended, at ``timestamp_ns``."""

    name: str
    on: bool
    timestamp_ns: int
    window: NDArray[np.float32] | None = None


class _Ring:
    """One channel on the patient's 250 Hz grid: slot ``i % N`` holds sample ``i`` when ``stamp`` says so."""

    def __init__(self) -> None:
        self.x = np.full(_RING_N, np.nan, np.float32)
        self.stamp = np.full(_RING_N, -1, np.int64)

    def put(self, first: int, values: NDArray[np.float32]) -> None:
        idx = np.arange(first, first + values.size)[-_RING_N:]
        self.x[idx % _RING_N] = values[-_RING_N:]
        self.stamp[idx % _RING_N] = idx

    def get(self, end: int, n: int = WINDOW_N) -> NDArray[np.float32]:
        idx = np.arange(end - n, end)
        out = self.x[idx % _RING_N].copy()
        out[self.stamp[idx % _RING_N] != idx] = np.nan
        return out


class BedMonitor:
    """One patient's live channels, QRS detector and calls (pure: no Kafka).

    >>> import numpy as np
    >>> bed = BedMonitor()
    >>> calls = [c for s in range(12) for c in bed.add("MDC_ECG_ELEC_POTL_II", 250.0, s * 10**9, np.zeros(250))]
    >>> [(c.name, c.on) for c in calls]
    [('asystole', True)]
    """

    def __init__(self) -> None:
        self.origin_ns: int | None = None
        self.rings = {name: _Ring() for name in ("ecg1", "ecg2", "pleth", "abp")}
        self.lead1: str | None = None
        self.lead2: str | None = None
        self.qrs: StreamingQRSDetector | None = None
        self.ecg_since = self.ecg_end = 0
        self.beats: list[int] = []
        self.next_eval = 0
        self.active: dict[str, bool] = dict.fromkeys(CALL_TYPES, False)
        self.false_for: dict[str, int] = dict.fromkeys(CALL_TYPES, 0)
        self.on_since: dict[str, int] = dict.fromkeys(CALL_TYPES, 0)

    def _grid(self, start_ns: int, fs_hz: float, values: NDArray[np.float32]) -> tuple[int, NDArray[np.float32]]:
        if self.origin_ns is None:
            self.origin_ns = start_ns
        t0 = (start_ns - self.origin_ns) * FS_HZ / 1e9  # in grid samples
        first, last = math.ceil(t0 - 1e-6), math.ceil(t0 + values.size * FS_HZ / fs_hz - 1e-6)
        if abs(fs_hz - FS_HZ) < 1e-9 and abs(t0 - round(t0)) < 1e-6:
            return first, values.astype(np.float32)
        src = t0 + np.arange(values.size) * (FS_HZ / fs_hz)
        return first, np.interp(np.arange(first, last), src, values).astype(np.float32)

    def add(self, signal: str, fs_hz: float, start_ns: int, samples: NDArray[Any], lead_off: bool = False) -> list[Call]:
        """Take one chunk; the calls that began or ended on the seconds it completed."""
        values = np.asarray(samples, np.float32)
        if signal in _OTHER:
            first, grid = self._grid(start_ns, fs_hz, values)
            self.rings[_OTHER[signal]].put(first, np.full_like(grid, np.nan) if lead_off else grid)
            return []
        if signal not in _LEAD1:
            return []
        if self.lead1 is None or _LEAD1.index(signal) < _LEAD1.index(self.lead1):
            if self.lead1 is not None and self.lead2 is None:
                self.lead2 = self.lead1
            self.lead1, self.qrs = signal, None
        elif signal != self.lead1 and (self.lead2 is None or _LEAD2.index(signal) < _LEAD2.index(self.lead2)):
            self.lead2 = signal
        first, grid = self._grid(start_ns, fs_hz, values)
        if signal != self.lead1:
            if signal == self.lead2:
                self.rings["ecg2"].put(first, np.full_like(grid, np.nan) if lead_off else grid)
            return []
        self.rings["ecg1"].put(first, np.full_like(grid, np.nan) if lead_off else grid)
        if first < self.ecg_end and self.qrs is not None:
            return []  # seen already (replay) or out of order
        if lead_off or not np.isfinite(grid).all() or self.qrs is None or first != self.ecg_end:
            self.qrs, self.beats, self.ecg_since = None, [], first  # a gap, a new lead or no signal: start again
        if lead_off:
            self.ecg_end = first + grid.size
            return self._end_all(first + grid.size)
        if self.qrs is None:
            self.qrs = StreamingQRSDetector(FS_HZ)
        self.beats.extend(self.ecg_since + int(r) for r in self.qrs.process(grid))
        self.beats = self.beats[-40:]
        self.ecg_end = first + grid.size
        return self._evaluate(self.ecg_end - self.qrs.latency_samples)

    def _end_all(self, at: int) -> list[Call]:
        out = [Call(name, False, self._ns(at)) for name, on in self.active.items() if on]
        self.active = dict.fromkeys(CALL_TYPES, False)
        self.next_eval = (at // FS_HZ + 1) * FS_HZ
        return out

    def _ns(self, index: int) -> int:
        return int(self.origin_ns or 0) + index * (10**9 // FS_HZ)

    def _evaluate(self, certain: int) -> list[Call]:
        """Check the definitions at every whole second up to ``certain`` (no beat can come before it any more)."""
        out: list[Call] = []
        t = max(self.next_eval, (self.ecg_since // FS_HZ + 1) * FS_HZ)
        while t <= certain:
            for name, on in self.conditions(t).items():
                self.false_for[name] = 0 if on else self.false_for[name] + 1
                if on and not self.active[name]:
                    self.active[name], self.on_since[name] = True, t
                    out.append(Call(name, True, self._ns(t), self.window(t)))
                elif self.active[name] and on and t - self.on_since[name] == VERIFY_AFTER_S * FS_HZ:  # still on: ask again
                    out.append(Call(name, True, self._ns(t), self.window(t)))
                elif self.active[name] and self.false_for[name] >= END_AFTER_S:  # a call ends after 5 s without it
                    self.active[name] = False
                    out.append(Call(name, False, self._ns(t)))
            t += FS_HZ
        self.next_eval = max(self.next_eval, t)
        return out

    def conditions(self, t: int) -> dict[str, bool]:
        """The 2015 definitions on the beats up to grid sample ``t``."""
        assert self.qrs is not None
        learned = t - 4 * FS_HZ >= self.ecg_since + round(self.qrs.config.learning_s * FS_HZ)
        beats = np.array([b for b in self.beats if b <= t], np.int64)
        rr = np.diff(beats) / FS_HZ
        asystole = learned and (beats.size == 0 or t - beats[-1] > 4 * FS_HZ)
        # a pause over 4 s is the asystole call, not bradycardia
        brady = not asystole and rr.size >= 4 and rr[-4:].max() <= 4.0 and 60.0 / float(rr[-4:].mean()) < 40.0
        tachy = rr.size >= 16 and 60.0 / float(rr[-16:].mean()) > 140.0
        return {"asystole": bool(asystole), "brady_extreme": bool(brady), "tachy_extreme": bool(tachy)}

    def window(self, t: int) -> NDArray[np.float32]:
        """The verifier window (4, 7500) ending at grid sample ``t``; a channel never seen is NaN."""
        return np.stack([self.rings[c].get(t) for c in ("ecg1", "ecg2", "pleth", "abp")])


def _load_verifier(device: str) -> Any:
    from wardwatch.errors import ConfigurationError
    from wardwatch.models.detectors import get_detector

    try:
        import torch

        torch.set_num_threads(1)
        detector = get_detector("alarm-verifier", device=device)
    except ConfigurationError as exc:
        logger.error("alarm verifier cannot load; arrhythmia calls are sent without a probability: %s", exc)
        return None
    logger.info("alarm verifier loaded on %s", getattr(detector, "device", "?"))
    return detector


async def _probabilities(detector: Any, calls: list[Call]) -> list[float]:
    """P(true alarm) of each call that began, in one verifier call in a thread; NaN where unknown."""
    if detector is None or not calls:
        return [math.nan] * len(calls)
    windows = np.stack([c.window for c in calls if c.window is not None])
    try:
        p = await asyncio.to_thread(detector.verify, windows, [CALL_TYPES[c.name] for c in calls])
    except Exception:  # noqa: BLE001 - the calls still go out, ungated
        logger.exception("alarm verifier failed on %d windows; calls sent without a probability", len(calls))
        return [math.nan] * len(calls)
    return [float(x) for x in p]


def register_verify(app: faust.App, settings: Settings, names: dict[str, str], dlq: faust.TopicT) -> None:
    """Add the ``verify`` agent to ``app`` (none when ``WARDWATCH_DETECT_ENABLED=false``)."""
    if not settings.detect.enabled:
        logger.info("verify agent disabled (WARDWATCH_DETECT_ENABLED=false)")
        return
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw", "partitions": settings.kafka.partitions}
    waveforms = app.topic(names["waveforms"], **raw)
    features = app.topic(names["features"], **raw)
    beds: dict[str, BedMonitor] = {}
    within = max(settings.detect.batch_wait_ms / 1000, 0.001)

    @app.agent(waveforms, name="verify")
    async def verify_agent(stream: faust.StreamT[bytes]) -> None:
        detector = await asyncio.to_thread(_load_verifier, settings.detect.device)
        async for events in stream.take_events(256, within=within):
            jobs: list[tuple[WaveformChunk, Call]] = []
            for event in events:
                try:
                    chunk = decode(event.message.value, WaveformChunk)
                except SchemaValidationError:
                    continue  # dead-lettered by the signal agent
                if chunk.signal not in WATCHED:
                    continue
                bed = beds.setdefault(chunk.patient_ref, BedMonitor())
                try:
                    calls = bed.add(chunk.signal, chunk.fs_hz, chunk.start_ns, chunk.values(), "lead_off" in chunk.quality
                                    or "probe_off" in chunk.quality)
                except Exception as exc:  # noqa: BLE001 - one record never stops the stream
                    logger.exception("verify failed on %s[%d]@%d", event.message.topic, event.message.partition, event.message.offset)
                    await dead_letter_event(dlq, event, "$.samples", f"internal error in verify: {type(exc).__name__}: {exc}"[:500],
                                            VERIFY_STAGE)
                    continue
                jobs.extend((chunk, c) for c in calls)
            begun = [c for _, c in jobs if c.window is not None]
            probs = dict(zip(map(id, begun), await _probabilities(detector, begun)))
            for chunk, call in jobs:
                values = {f"arrhythmia.{call.name}": 1.0 if call.on else 0.0}
                p = probs.get(id(call), math.nan)
                if call.window is not None and not math.isnan(p):
                    values[PROBABILITY_FEATURE] = round(p, 6)
                if call.window is not None:
                    keep = "unknown" if math.isnan(p) else "keep" if detector.decide(p, CALL_TYPES[call.name]) else "suppress"
                    logger.info("verify: %s call on ward %s bed %s, P(true)=%.2f (verifier: %s)", call.name, chunk.ward, chunk.bed, p, keep)
                record = Features(patient_ref=chunk.patient_ref, ward=chunk.ward, bed=chunk.bed, timestamp_ns=call.timestamp_ns,
                                  source="verifier", values=values)
                await features.send(key=chunk.patient_ref.encode(), value=encode(record), headers=_HEADERS)
