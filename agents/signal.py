"""The signal agent: waveform chunks in, derived values and signal quality out (``features``).

Reads ``vitals.waveforms``; for every ECG lead, PLETH, respiration and accelerometer signal of
every patient it runs a :class:`~wardwatch.models.waveform_features.WaveformAnalyzer` (or the
:class:`~wardwatch.models.waveform_features.MotionAnalyzer`) and sends what they emit to
``features``, where the InfluxDB sink and the alert agent read it. Other waveform signals (an
arterial pressure wave, say) are kept on the topic for later stages but not analyzed here.

Analyzer state lives in the worker's memory (see the analyzer's docstring for why); analyzers of
patients silent for ``_IDLE_S`` are dropped, so memory follows the patients this worker owns now.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import faust
from faust.types import EventT

from wardwatch.agents.sinks import dead_letter_event, guarded
from wardwatch.config import Settings
from wardwatch.errors import SchemaValidationError
from wardwatch.models.waveform_features import ACCEL_SIGNALS, MotionAnalyzer, WaveformAnalyzer, analyzable
from wardwatch.streams.codec import CONTENT_TYPE, decode, encode
from wardwatch.streams.records import WaveformChunk

__all__ = ["register_signal", "SIGNAL_STAGE"]

logger = logging.getLogger(__name__)

SIGNAL_STAGE = "signal"
_IDLE_S = 300.0
_HEADERS = [("content-type", CONTENT_TYPE.encode())]


def register_signal(app: faust.App, settings: Settings, names: dict[str, str], dlq: faust.TopicT) -> None:
    """Add the signal agent to ``app``."""
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw", "partitions": settings.kafka.partitions}
    waveforms = app.topic(names["waveforms"], **raw)
    features = app.topic(names["features"], **raw)
    analyzers: dict[tuple[str, str], WaveformAnalyzer] = {}
    motion: dict[str, MotionAnalyzer] = {}
    last_seen: dict[str, float] = {}

    def evict(now: float) -> None:
        for ref in [r for r, t in last_seen.items() if now - t > _IDLE_S]:
            del last_seen[ref]
            motion.pop(ref, None)
            for key in [k for k in analyzers if k[0] == ref]:
                del analyzers[key]

    async def analyze(event: EventT) -> None:
        try:
            chunk = decode(event.message.value, WaveformChunk)
        except SchemaValidationError as exc:
            await dead_letter_event(dlq, event, exc.field, exc.reason, SIGNAL_STAGE)
            return
        if not analyzable(chunk.signal):
            return
        now = time.monotonic()
        if chunk.patient_ref not in last_seen:
            evict(now)
        last_seen[chunk.patient_ref] = now
        if chunk.signal in ACCEL_SIGNALS:
            out = motion.setdefault(chunk.patient_ref, MotionAnalyzer()).process(chunk)
        else:
            key = (chunk.patient_ref, chunk.signal)
            analyzer = analyzers.get(key)
            if analyzer is None:
                analyzer = analyzers[key] = WaveformAnalyzer(chunk.signal, chunk.fs_hz)
            out = analyzer.process(chunk)
        for feature in out:
            await features.send(key=event.message.key, value=encode(feature), headers=_HEADERS)

    @app.agent(waveforms, name="signal")
    async def signal(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await guarded(dlq, event, SIGNAL_STAGE, analyze)
