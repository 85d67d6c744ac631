"""The ward page's live feed: Kafka records into :class:`~wardwatch.dashboards.ward.state.WardState`.

One aiokafka consumer, without a consumer group (every ward page sees every record; nothing is
committed), reads numerics, waveforms, features, alerts and alert notes. On start it goes back in
time so the page is not empty: alerts and notes from ``alarms_back_s`` ago (open alarms survive a
restart of the page), numerics and features from ``history_s`` ago (the sparklines), waveforms from
a few seconds ago. Records that do not decode are skipped and counted: the workers dead-letter
them, the page only reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from wardwatch.config import KafkaSettings
from wardwatch.errors import SchemaValidationError
from wardwatch.kafka_security import aiokafka_options, kafka_python_options
from wardwatch.streams.codec import decode
from wardwatch.streams.records import Alert, AlertNote, Features, NumericObservation, WaveformChunk
from wardwatch.streams.topics import topic_name

from .state import WardState

__all__ = ["WardFeed", "FEED_TOPICS"]

logger = logging.getLogger(__name__)

#: Topic keys (:data:`wardwatch.streams.topics.TOPICS`) the page reads.
FEED_TOPICS: tuple[str, ...] = ("numerics", "waveforms", "features", "alerts", "notes")
_FeedRecord = NumericObservation | WaveformChunk | Features | Alert | AlertNote


def _partitions(kafka: KafkaSettings, topics: list[str]) -> dict[str, set[int]]:
    """Each topic's partitions (none for a topic that does not exist), from the brokers' metadata."""
    from kafka import KafkaConsumer

    probe = KafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=None, enable_auto_commit=False,
                          **kafka_python_options(kafka))
    try:
        return {topic: set(probe.partitions_for_topic(topic) or ()) for topic in topics}
    finally:
        probe.close()


class WardFeed:
    """Consume the ward's topics into ``state``; call ``on_change(bed)`` for every bed that changed.

    Parameters
    ----------
    settings : KafkaSettings
        Brokers and topic prefix.
    state : WardState
        Where records go.
    on_change : callable
        Called with the bed label after each record that changed a bed.
    history_s, alarms_back_s, strip_back_s : float
        How far back to start reading numerics and features, alerts and notes, waveforms.
    """

    def __init__(self, settings: KafkaSettings, state: WardState, on_change: Callable[[str], None], *,
                 history_s: float = 600.0, alarms_back_s: float = 24 * 3600.0, strip_back_s: float = 8.0) -> None:
        self._settings, self.state, self._on_change = settings, state, on_change
        self._back = {"numerics": history_s, "features": history_s, "waveforms": strip_back_s,
                      "alerts": alarms_back_s, "notes": alarms_back_s}
        self._topics = {topic_name(settings.topic_prefix, key): key for key in FEED_TOPICS}
        self.counters: Counter[str] = Counter()
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        """Connect, go back in time on each topic, and start consuming in the background."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self._settings.bootstrap_servers, group_id=None,
                                    enable_auto_commit=False, auto_offset_reset="latest",
                                    client_id=f"{self._settings.app_id}-ward-page", **aiokafka_options(self._settings))
        await consumer.start()
        self._consumer = consumer
        try:
            layout = await asyncio.to_thread(_partitions, self._settings, list(self._topics))
            parts = [TopicPartition(t, p) for t, ps in layout.items() for p in sorted(ps)]
            missing = [t for t in self._topics if not any(tp.topic == t for tp in parts)]
            if missing:
                logger.warning("topics %s do not exist yet; the page shows them once `wardwatch topics create` ran", ", ".join(missing))
            consumer.assign(parts)
            now_ms = int(time.time() * 1000)
            wanted = {tp: now_ms - int(self._back[self._topics[tp.topic]] * 1000) for tp in parts}
            found = await consumer.offsets_for_times(wanted) if wanted else {}
            ends = await consumer.end_offsets(parts) if parts else {}
            for tp in parts:
                hit = found.get(tp)
                consumer.seek(tp, hit.offset if hit is not None else ends[tp])
        except Exception:
            await consumer.stop()
            self._consumer = None
            raise
        self._task = asyncio.create_task(self._run(), name="ward-feed")

    async def _run(self) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=2000)
            for tp, messages in batches.items():
                for message in messages:
                    self._take(message.value)
            if not batches and not self.ready.is_set():
                self.ready.set()  # caught up with what was there when the page started

    def _take(self, value: bytes | None) -> None:
        if value is None:
            return
        try:
            record = decode(value, _FeedRecord)
        except SchemaValidationError:
            self.counters["undecodable"] += 1
            return
        self.counters["records"] += 1
        bed = self.state.apply(record)
        if bed is not None:
            self._on_change(bed)

    async def stop(self) -> None:
        """Stop consuming and close the connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    def failed(self) -> BaseException | None:
        """The error that ended the background task, if it ended."""
        if self._task is not None and self._task.done() and not self._task.cancelled():
            return self._task.exception()
        return None
