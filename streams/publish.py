"""Send canonical records to Kafka: the simulator's producer loop.

Records are MessagePack (:mod:`wardwatch.streams.codec`), keyed by the pseudonymous patient
reference so each patient's records stay in one partition, with a ``content-type`` header.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from wardwatch.config import KafkaSettings, WardSettings
from wardwatch.errors import ServiceUnavailableError
from wardwatch.kafka_security import aiokafka_options, explain_failure
from wardwatch.streams.codec import CONTENT_TYPE, encode
from wardwatch.streams.deadletter import DeadLetter, dead_letter_headers
from wardwatch.streams.records import ChartedEvent, NumericObservation, Record, WaveformChunk
from wardwatch.streams.simulator import WardSimulator
from wardwatch.streams.topics import topic_name

__all__ = ["RecordProducer", "run_simulation"]

logger = logging.getLogger(__name__)

_HEADERS = [("content-type", CONTENT_TYPE.encode())]


class RecordProducer:
    """An async Kafka producer of canonical records (use as ``async with``).

    It is the :class:`~wardwatch.streams.adapters.ingest.RecordSink` of live adapters: each record
    goes to its type's topic, keyed by its patient reference; rejected messages go to the
    dead-letter topic unchanged, with the reason in headers.
    """

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._topics = {
            NumericObservation: topic_name(settings.topic_prefix, "numerics"),
            WaveformChunk: topic_name(settings.topic_prefix, "waveforms"),
            ChartedEvent: topic_name(settings.topic_prefix, "events"),
        }
        self._dlq = topic_name(settings.topic_prefix, "dlq")
        self._producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap_servers,
            client_id=f"{settings.app_id}-producer",
            acks="all",
            linger_ms=5,
            enable_idempotence=True,
            max_request_size=4 * 1024 * 1024,
            **aiokafka_options(settings),
        )

    async def __aenter__(self) -> "RecordProducer":
        try:
            await self._producer.start()
        except KafkaError as exc:
            await self._producer.stop()
            raise ServiceUnavailableError(explain_failure(self._settings, exc)) from exc
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def send_records(self, records: Iterable[Record], topic: str | None = None) -> int:
        """Send ``records`` (to their type's topic unless ``topic`` is given) and wait until Kafka
        has them all; return how many."""
        futures = []
        for r in records:
            target = topic or self._topics.get(type(r))
            if target is None:
                raise TypeError(f"no input topic for {type(r).__name__} records")
            futures.append(await self._producer.send(target, value=encode(r), key=r.patient_ref.encode(), headers=_HEADERS))
        if futures:
            await asyncio.gather(*futures)
        return len(futures)

    async def send_numerics(self, topic: str, records: Iterable[NumericObservation]) -> int:
        return await self.send_records(records, topic)

    async def dead_letter(self, payload: bytes, key: bytes | None, letter: DeadLetter) -> None:
        """Send a rejected native message, unchanged, to the dead-letter topic with its reason."""
        fut = await self._producer.send(self._dlq, value=payload, key=key, headers=dead_letter_headers(letter))
        await fut


async def run_simulation(
    kafka: KafkaSettings,
    ward: WardSettings,
    secret: bytes,
    duration_s: float | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Run a :class:`WardSimulator` paced at ``ward.speed`` and send its numerics to Kafka.

    Runs for ``duration_s`` simulated seconds (forever when ``None``) or until ``stop`` is set;
    returns the number of records sent.
    """
    start_ns = time.time_ns()
    sim = WardSimulator(ward.name, ward.patients, ward.seed, secret, start_ns=start_ns, interval_s=ward.interval_s)
    topic = topic_name(kafka.topic_prefix, "numerics")
    stop = stop or asyncio.Event()
    sent = 0
    wall0 = time.monotonic()
    async with RecordProducer(kafka) as producer:
        logger.info("simulating %d patients on ward %s at %gx real time", ward.patients, ward.name, ward.speed)
        sent += await producer.send_records(sim.admission_events())
        step = 0
        while not stop.is_set():
            if duration_s is not None and step * ward.interval_s >= duration_s:
                break
            sent += await producer.send_numerics(topic, sim.step())
            step += 1
            delay = wall0 + step * ward.interval_s / ward.speed - time.monotonic()
            if delay > 0:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                except asyncio.TimeoutError:
                    pass
    logger.info("simulator stopped after %d records", sent)
    return sent
