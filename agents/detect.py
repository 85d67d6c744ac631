"""The detect agents: windows of many patients micro-batched into one detector call (issue 5).

=============== ======================================= ===========================================
agent           reads                                   writes
=============== ======================================= ===========================================
``detect``      ``features`` (sources news2, trends)    ``features`` (source ``detector``,
                                                        ``detector.deterioration``)
``detect-af``   ``vitals.waveforms`` (ECG leads)        ``features`` (source ``detector``,
                                                        ``arrhythmia.af``); only when the ``af``
                                                        detector module is installed
=============== ======================================= ===========================================

``detect`` keeps each patient's minute rows
(:class:`~wardwatch.models.detectors.deterioration.MinuteWindows`) in the Faust table
``detect-windows`` (changelog-backed: a worker that dies is replaced without losing 30 minutes of
history). Each time a patient's minute closes its window goes to a
:class:`~wardwatch.models.detectors.microbatch.MicroBatcher`; the windows of every patient in a
batch of events are scored in one detector call. The score is sent to ``features``, where the
rule ``detector.deterioration`` of the alarm rules reads it. ``detect-af`` keeps a ring buffer of
one ECG lead per patient in memory (waveforms are a replayable, short-lived stream, as for the
signal agent) and scores the last window every ``WARDWATCH_DETECT_AF_EVERY_S`` seconds of signal.

Detectors load once per worker, when the agent starts (torch is imported then, not at app
creation). Records that do not decode are dead-lettered once, by the sink that owns their topic
(``influx-features``, ``signal``); a window the detector fails on dead-letters its event here
(stage ``detect``); a window with too little data scores NaN and is not sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import logging
import math
import weakref
from collections.abc import Iterator
from typing import Any

import faust
import msgspec
import numpy as np
from faust import streams as faust_streams
from faust.types import EventT

from wardwatch.agents.sinks import dead_letter_event
from wardwatch.config import Settings
from wardwatch.errors import SchemaValidationError
from wardwatch.streams.codec import CONTENT_TYPE, decode, encode
from wardwatch.streams.records import Features, WaveformChunk

__all__ = ["register_detect", "DETECT_STAGE", "AF_FEATURE", "EcgRing"]

logger = logging.getLogger(__name__)

DETECT_STAGE = "detect"
AF_FEATURE = "arrhythmia.af"
_HEADERS = [("content-type", CONTENT_TYPE.encode())]
_ENCODE = msgspec.msgpack.Encoder()
_ECG_PREFERENCE = ("MDC_ECG_ELEC_POTL_II", "MDC_ECG_ELEC_POTL_I", "MDC_ECG_ELEC_POTL_III", "MDC_ECG_ELEC_POTL_V")


@contextlib.contextmanager
def _current(event: EventT) -> Iterator[None]:
    """Make ``event`` Faust's current event, so a table write goes to that event's changelog
    partition. Needed because ``take_events`` hands over a batch: Faust's current event is then the
    batch's last one, which may be of another partition."""
    token = faust_streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust_streams._current_event.reset(token)


class EcgRing:
    """One patient's latest ``window_s`` seconds of one ECG lead; a window every ``every_s`` of signal."""

    def __init__(self, signal: str, fs_hz: float, window_s: float, every_s: float) -> None:
        self.signal, self.fs_hz = signal, fs_hz
        self.size = int(round(window_s * fs_hz))
        self.every = max(1, int(round(every_s * fs_hz)))
        self.buf = np.zeros(self.size, np.float32)
        self.filled = 0
        self.since = 0
        self.end_ns = 0

    def add(self, chunk: WaveformChunk) -> np.ndarray | None:
        """Append a chunk; the last ``window_s`` seconds when a window is due, else ``None``."""
        if chunk.start_ns < self.end_ns:
            return None  # seen already (replay) or out of order
        if "lead_off" in chunk.quality or (self.end_ns and chunk.start_ns - self.end_ns > 2e9):
            self.filled = self.since = 0  # a gap or no signal: start again
        self.end_ns = chunk.end_ns
        if "lead_off" in chunk.quality:
            return None
        x = chunk.values()[-self.size:]
        self.buf = np.roll(self.buf, -len(x))
        self.buf[-len(x):] = x
        self.filled = min(self.size, self.filled + len(x))
        self.since += len(x)
        if self.filled >= self.size and self.since >= self.every:
            self.since = 0
            return self.buf.copy()
        return None


class _Detectors:
    """The detectors and their micro-batchers, loaded once per worker at agent start."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings.detect
        self._loaded: dict[str, Any] = {}
        self._lock = asyncio.Lock()

    async def get(self, name: str) -> Any:
        async with self._lock:
            if name not in self._loaded:
                self._loaded[name] = await asyncio.to_thread(self._load, name)
            return self._loaded[name]

    def _load(self, name: str) -> Any:
        from wardwatch.errors import ConfigurationError
        from wardwatch.models.detectors import get_detector
        from wardwatch.models.detectors.microbatch import MicroBatcher

        try:
            detector = get_detector(name, device=self.settings.device)
        except ConfigurationError as exc:  # the worker's other agents go on; this one only drains its topic
            logger.error("detector %s cannot load, its agent scores nothing: %s", name, exc)
            return None
        logger.info("detector %s loaded on %s (batch_max %d, batch_wait_ms %g)", name, getattr(detector, "device", "?"),
                    self.settings.batch_max, self.settings.batch_wait_ms)
        import torch

        threads = self.settings.torch_threads
        return detector, MicroBatcher(detector.score, batch_max=self.settings.batch_max, batch_wait_ms=self.settings.batch_wait_ms,
                                      name=name, thread_init=lambda: torch.set_num_threads(threads))


async def _score_and_send(batcher: Any, jobs: list[tuple[EventT, Any, np.ndarray]], feature: str,
                          out: faust.TopicT, dlq: faust.TopicT) -> None:
    """Score every job's window in the batcher (flushed at once), send the scores in job order."""
    if not jobs:
        return
    pending = [asyncio.ensure_future(batcher.submit(w)) for _, _, w in jobs]
    await asyncio.sleep(0)  # let every submit queue its window
    batcher.flush()
    scores = await asyncio.gather(*pending, return_exceptions=True)
    for (event, record, _), score in zip(jobs, scores):
        if isinstance(score, BaseException):
            await dead_letter_event(dlq, event, "$", f"detector failed: {type(score).__name__}: {score}"[:500], DETECT_STAGE)
            continue
        if math.isnan(score):
            continue  # too little data in the window to tell
        ts = record.timestamp_ns if isinstance(record, Features) else record.end_ns
        value = Features(patient_ref=record.patient_ref, ward=record.ward, bed=record.bed, timestamp_ns=ts, source="detector",
                         values={feature: round(float(score), 6)})
        await out.send(key=record.patient_ref.encode(), value=encode(value), headers=_HEADERS)


def register_detect(app: faust.App, settings: Settings, names: dict[str, str], dlq: faust.TopicT) -> None:
    """Add this module's topics, tables and agents to ``app`` (none when ``WARDWATCH_DETECT_ENABLED=false``)."""
    if not settings.detect.enabled:
        logger.info("detect agents disabled (WARDWATCH_DETECT_ENABLED=false)")
        return
    from wardwatch.models.detectors.deterioration import FEATURE_NAME, SOURCES, MinuteWindows

    kafka, detect = settings.kafka, settings.detect
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw", "partitions": kafka.partitions}
    features = app.topic(names["features"], **raw)
    table = app.Table("detect-windows", default=None, key_type=bytes, value_type=bytes, partitions=kafka.partitions)
    detectors = _Detectors(settings)
    within = max(detect.batch_wait_ms / 1000.0, 0.001)

    def window_of(event: EventT) -> tuple[EventT, Features, np.ndarray] | None:
        try:
            record = decode(event.message.value, Features)
        except SchemaValidationError:
            return None  # dead-lettered by the influx-features sink
        if record.source not in SOURCES:
            return None
        key = record.patient_ref.encode()
        state = table.get(key)
        windows = MinuteWindows.from_state(msgspec.msgpack.decode(state)) if state is not None else MinuteWindows()
        window = windows.update(record)
        with _current(event):
            table[key] = _ENCODE.encode(windows.to_state())
        return None if window is None else (event, record, window)

    @app.agent(features, name="detect")
    async def detect_agent(stream: faust.StreamT[bytes]) -> None:
        loaded = await detectors.get("deterioration")
        if loaded is None:
            async for _ in stream:  # keep consuming so the topic's offsets move on
                pass
            return
        _, batcher = loaded
        async for events in stream.take_events(detect.batch_max, within=within):
            jobs = []
            for event in events:
                try:
                    job = window_of(event)
                except Exception as exc:  # noqa: BLE001 - one record never stops the stream
                    logger.exception("detect failed on %s[%d]@%d", event.message.topic, event.message.partition, event.message.offset)
                    await dead_letter_event(dlq, event, "$", f"internal error in detect: {type(exc).__name__}: {exc}"[:500], DETECT_STAGE)
                    continue
                if job is not None:
                    jobs.append(job)
            await _score_and_send(batcher, jobs, FEATURE_NAME, features, dlq)

    if importlib.util.find_spec("wardwatch.models.detectors.af") is None:
        logger.info("no af detector module: the detect-af agent is not started")
        return
    _register_af(app, settings, names, dlq, detectors, features)


def _register_af(app: faust.App, settings: Settings, names: dict[str, str], dlq: faust.TopicT, detectors: _Detectors,
                 features: faust.TopicT) -> None:
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw", "partitions": settings.kafka.partitions}
    waveforms = app.topic(names["waveforms"], **raw)
    rings: dict[str, EcgRing] = {}
    every_s = settings.detect.af_every_s

    @app.agent(waveforms, name="detect-af")
    async def detect_af(stream: faust.StreamT[bytes]) -> None:
        loaded = await detectors.get("af")
        if loaded is None:
            async for _ in stream:  # keep consuming so the topic's offsets move on
                pass
            return
        detector, batcher = loaded
        module = importlib.import_module("wardwatch.models.detectors.af")
        to_window = getattr(module, "window_from_ecg", None) or getattr(detector, "window_from_ecg")
        fs = float(getattr(detector, "FS_HZ"))
        window_s = detector.window_shape[-1] / fs
        async for events in stream.take_events(max(settings.detect.batch_max, 256), within=max(settings.detect.batch_wait_ms / 1000, 0.001)):
            jobs = []
            for event in events:
                try:
                    chunk = decode(event.message.value, WaveformChunk)
                except SchemaValidationError:
                    continue  # dead-lettered by the signal agent
                if chunk.signal not in _ECG_PREFERENCE:
                    continue
                ring = rings.get(chunk.patient_ref)
                if ring is None or (ring.signal != chunk.signal and _ECG_PREFERENCE.index(chunk.signal) < _ECG_PREFERENCE.index(ring.signal)):
                    ring = rings[chunk.patient_ref] = EcgRing(chunk.signal, chunk.fs_hz, window_s, every_s)
                if chunk.signal != ring.signal:
                    continue
                samples = ring.add(chunk)
                if samples is not None:
                    try:
                        jobs.append((event, chunk, np.asarray(to_window(samples, chunk.fs_hz), np.float32)))
                    except Exception as exc:  # noqa: BLE001
                        await dead_letter_event(dlq, event, "$.samples", f"no AF window: {type(exc).__name__}: {exc}"[:500], DETECT_STAGE)
            await _score_and_send(batcher, jobs, AF_FEATURE, features, dlq)
