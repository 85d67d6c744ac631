"""The Faust application and its agents.

Agents are thin: they move records between topics and call pure code. The walking skeleton has
one agent, ``influx-numerics``: it reads numeric observations, writes them to InfluxDB in batches
(size ``WARDWATCH_INFLUX_BATCH_SIZE``, at most ``WARDWATCH_INFLUX_FLUSH_INTERVAL_S`` old) and sends
every record it cannot accept to the dead-letter topic with the reason and the original bytes.

While InfluxDB does not answer, the agent retries the same batch with exponential backoff (0.5 s
doubling to 30 s) and reads no further: Kafka holds the backlog, nothing is dropped, and the
partition's offset is not committed past what was written. A record InfluxDB refuses (HTTP 4xx,
e.g. a field-type conflict) is retried alone and, if refused again, dead-lettered with
InfluxDB's reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import faust
import requests
from faust.types import EventT
from influxdb.exceptions import InfluxDBClientError, InfluxDBServerError

from wardwatch.agents.influx import InfluxWriter, to_point
from wardwatch.config import Settings
from wardwatch.errors import SchemaValidationError
from wardwatch.streams.codec import decode
from wardwatch.streams.deadletter import DeadLetter, dead_letter_headers
from wardwatch.streams.records import NumericObservation
from wardwatch.streams.topics import topic_names

__all__ = ["create_app", "SINK_STAGE"]

logger = logging.getLogger(__name__)

#: The stage name written in the dead-letter headers of records the InfluxDB sink rejects.
SINK_STAGE = "influx-sink"

_RETRYABLE = (requests.ConnectionError, requests.Timeout, InfluxDBServerError, OSError)


async def _dead_letter(dlq: faust.TopicT, event: EventT, field: str, reason: str) -> None:
    message = event.message
    letter = DeadLetter(
        field=field,
        reason=reason,
        stage=SINK_STAGE,
        source_topic=message.topic,
        source_partition=message.partition,
        source_offset=message.offset,
    )
    fut = await dlq.send(key=message.key, value=message.value, headers=dead_letter_headers(letter))
    await fut  # delivered before the offset moves on
    logger.warning(
        "dead-lettered %s[%d]@%d: %s: %s", message.topic, message.partition, message.offset, field, reason
    )


async def _write(writer: InfluxWriter, points: Sequence[dict[str, Any]]) -> None:
    delay = 0.5
    while True:
        try:
            await asyncio.to_thread(writer.write_points, points)
            return
        except _RETRYABLE as exc:
            logger.warning("InfluxDB write of %d points failed (%s); retrying in %.1f s", len(points), type(exc).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


async def store_batch(
    writer: InfluxWriter, dlq: faust.TopicT, events: Sequence[EventT]
) -> tuple[int, int]:
    """Decode, write and dead-letter one batch of events; return (written, rejected)."""
    accepted: list[tuple[EventT, dict[str, Any]]] = []
    rejected = 0
    for event in events:
        try:
            record = decode(event.message.value, NumericObservation)
        except SchemaValidationError as exc:
            await _dead_letter(dlq, event, exc.field, exc.reason)
            rejected += 1
            continue
        accepted.append((event, to_point(record)))
    if not accepted:
        return 0, rejected
    try:
        await _write(writer, [p for _, p in accepted])
        return len(accepted), rejected
    except InfluxDBClientError:
        pass  # a 4xx for the batch: find the records InfluxDB refuses, one at a time
    written = 0
    for event, point in accepted:
        try:
            await _write(writer, [point])
            written += 1
        except InfluxDBClientError as exc:
            await _dead_letter(dlq, event, "$", f"InfluxDB refused the point: {str(exc.content)[:500]}")
            rejected += 1
    return written, rejected


def create_app(settings: Settings) -> faust.App:
    """Build the Faust app with its topics and agents from ``settings``."""
    kafka = settings.kafka
    app = faust.App(
        kafka.app_id,
        broker=[f"kafka://{server.strip()}" for server in kafka.bootstrap_servers.split(",")],
        store="memory://",
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        web_enabled=False,
    )
    names = topic_names(kafka.topic_prefix)
    numerics = app.topic(names["numerics"], key_serializer="raw", value_serializer="raw", partitions=kafka.partitions)
    dlq = app.topic(names["dlq"], key_serializer="raw", value_serializer="raw", partitions=kafka.partitions)
    writer = InfluxWriter(settings.influx)

    @app.agent(numerics, name="influx-numerics")
    async def influx_numerics(stream: faust.StreamT[bytes]) -> None:
        async for events in stream.take_events(settings.influx.batch_size, within=settings.influx.flush_interval_s):
            written, rejected = await store_batch(writer, dlq, events)
            logger.debug("batch: %d written, %d dead-lettered", written, rejected)

    return app
