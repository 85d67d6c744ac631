"""Sink plumbing shared by the agents: dead letters, and batched InfluxDB writes that lose nothing.

While InfluxDB does not answer, a batch is retried with exponential backoff (0.5 s doubling to
30 s) and the agent reads no further: Kafka holds the backlog, nothing is dropped, and the
partition's offset is not committed past what was written. A record InfluxDB refuses (HTTP 4xx,
e.g. a field-type conflict) is retried alone and, if refused again, dead-lettered with InfluxDB's
reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import faust
import requests
from faust.types import EventT
from influxdb.exceptions import InfluxDBClientError, InfluxDBServerError

from wardwatch.agents.influx import InfluxWriter
from wardwatch.errors import SchemaValidationError
from wardwatch.streams.codec import decode
from wardwatch.streams.deadletter import DeadLetter, dead_letter_headers

__all__ = ["SINK_STAGE", "dead_letter_event", "guarded", "until_written", "write_points", "store_batch"]

logger = logging.getLogger(__name__)

#: The stage name written in the dead-letter headers of records the InfluxDB sink rejects.
SINK_STAGE = "influx-sink"

RETRYABLE = (requests.ConnectionError, requests.Timeout, InfluxDBServerError, OSError)


async def dead_letter_event(dlq: faust.TopicT, event: EventT, field: str, reason: str, stage: str) -> None:
    """Send ``event``'s original key and bytes to ``dlq`` with the reason in headers; wait for delivery."""
    message = event.message
    letter = DeadLetter(
        field=field,
        reason=reason,
        stage=stage,
        source_topic=message.topic,
        source_partition=message.partition,
        source_offset=message.offset,
    )
    fut = await dlq.send(key=message.key, value=message.value, headers=dead_letter_headers(letter))
    await fut  # delivered before the offset moves on
    logger.warning("dead-lettered %s[%d]@%d: %s: %s", message.topic, message.partition, message.offset, field, reason)


async def guarded(dlq: faust.TopicT, event: EventT, stage: str, handle: Callable[[EventT], Awaitable[None]]) -> None:
    """Run ``handle(event)``; if it fails (a bug, not bad input), dead-letter the event with the
    error and go on: one record never stops a patient's stream or crashes the worker."""
    try:
        await handle(event)
    except Exception as exc:  # noqa: BLE001 - the stream must go on
        logger.exception("%s failed on %s[%d]@%d", stage, event.message.topic, event.message.partition, event.message.offset)
        await dead_letter_event(dlq, event, "$", f"internal error in {stage}: {type(exc).__name__}: {exc}"[:500], stage)


async def until_written(write: Callable[[], Any], what: str) -> None:
    """Run the blocking InfluxDB ``write`` in a thread, retrying with backoff (0.5 s doubling to
    30 s) while InfluxDB does not answer. 4xx errors are raised."""
    delay = 0.5
    while True:
        try:
            await asyncio.to_thread(write)
            return
        except RETRYABLE as exc:
            logger.warning("InfluxDB write of %s failed (%s); retrying in %.1f s", what, type(exc).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


async def write_points(writer: InfluxWriter, points: Sequence[dict[str, Any]]) -> None:
    """Write ``points``, retrying with backoff while InfluxDB does not answer. 4xx errors are raised."""
    await until_written(lambda: writer.write_points(points), f"{len(points)} points")


async def store_batch(
    writer: InfluxWriter,
    dlq: faust.TopicT,
    events: Sequence[EventT],
    record_type: type,
    to_point: Callable[[Any], dict[str, Any]],
) -> tuple[int, int]:
    """Decode ``events`` as ``record_type``, write them, dead-letter what fails; return (written, rejected)."""
    accepted: list[tuple[EventT, dict[str, Any]]] = []
    rejected = 0
    for event in events:
        try:
            record = decode(event.message.value, record_type)
        except SchemaValidationError as exc:
            await dead_letter_event(dlq, event, exc.field, exc.reason, SINK_STAGE)
            rejected += 1
            continue
        accepted.append((event, to_point(record)))
    if not accepted:
        return 0, rejected
    try:
        await write_points(writer, [p for _, p in accepted])
        return len(accepted), rejected
    except InfluxDBClientError:
        pass  # a 4xx for the batch: find the records InfluxDB refuses, one at a time
    written = 0
    for event, point in accepted:
        try:
            await write_points(writer, [point])
            written += 1
        except InfluxDBClientError as exc:
            await dead_letter_event(dlq, event, "$", f"InfluxDB refused the point: {str(exc.content)[:500]}", SINK_STAGE)
            rejected += 1
    return written, rejected
