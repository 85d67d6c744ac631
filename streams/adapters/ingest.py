"""What every adapter's output goes through: de-duplication, counters, Kafka, dead letters.

:class:`Ingestor` wraps one :class:`~wardwatch.streams.adapters.base.Adapter`. For each native
message it parses, drops records already seen (a repeated HL7 message, an MQTT QoS-1 redelivery,
a FHIR retry), hands the rest to a :class:`RecordSink`, and sends the original bytes with the
reasons to the dead-letter topic when any part was bad — sealed (:mod:`wardwatch.streams.sealing`),
because a message the adapter could not read may still hold a name or a record number. It never raises for bad input: the
outcome says what happened, so a listener can answer its peer (HL7 ACK, HTTP status).
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from wardwatch.errors import SchemaValidationError
from wardwatch.streams.adapters.base import Adapter, ParseResult, Problem
from wardwatch.streams.deadletter import DeadLetter
from wardwatch.streams.records import Record
from wardwatch.streams.sealing import SEAL_SCHEME, seal

__all__ = ["RecordSink", "Ingestor", "IngestOutcome", "AdapterCounters", "dedup_key"]

logger = logging.getLogger(__name__)


class RecordSink(Protocol):
    """Where an ingestor puts what it accepted and what it rejected."""

    async def send_records(self, records: Sequence[Record]) -> None: ...

    async def dead_letter(self, payload: bytes, key: bytes | None, letter: DeadLetter) -> None: ...


@dataclass
class AdapterCounters:
    """Per-adapter counters: messages received, records accepted, duplicates, rejections by field."""

    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {
            "received": self.received,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "dead_lettered": self.dead_lettered,
            "rejected": dict(self.rejected),
        }


@dataclass(frozen=True)
class IngestOutcome:
    """What became of one native message."""

    accepted: int
    duplicates: int
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def dedup_key(record: Record) -> Hashable:
    """Identity of a record for de-duplication: same patient, same signal or event, same time."""
    kind = type(record).__name__
    signal = getattr(record, "signal", None) or getattr(record, "event", None) or getattr(record, "alert_id", "")
    when = getattr(record, "timestamp_ns", None) or getattr(record, "start_ns", None) or getattr(record, "onset_ns", 0)
    return (kind, getattr(record, "patient_ref", ""), getattr(record, "device_id", ""), signal, when)


class Ingestor:
    """Run one adapter's output through de-duplication, counters and a sink."""

    def __init__(self, adapter: Adapter, sink: RecordSink, source: str, dedup_window: int = 200_000) -> None:
        self.adapter = adapter
        self.sink = sink
        self.source = source
        self.counters = AdapterCounters()
        self._seen: OrderedDict[Hashable, None] = OrderedDict()
        self._window = dedup_window

    def _parse(self, payload: bytes) -> ParseResult:
        try:
            return self.adapter.parse(payload)
        except SchemaValidationError as exc:
            return ParseResult([], [Problem(exc.field, exc.reason)])
        except Exception as exc:  # a parser bug must not stop the adapter; the message is kept
            logger.exception("adapter %s failed on a message", self.adapter.name)
            return ParseResult([], [Problem("$", f"internal error in adapter {self.adapter.name}: {type(exc).__name__}")])

    def _fresh(self, records: Sequence[Record]) -> list[Record]:
        fresh: list[Record] = []
        for record in records:
            key = dedup_key(record)
            if key in self._seen:
                self._seen.move_to_end(key)
                continue
            self._seen[key] = None
            if len(self._seen) > self._window:
                self._seen.popitem(last=False)
            fresh.append(record)
        return fresh

    async def ingest(self, payload: bytes, key: bytes | None = None) -> IngestOutcome:
        """Parse ``payload``, send what is new and valid, dead-letter it with the reasons if any part was bad."""
        self.counters.received += 1
        result = self._parse(payload)
        fresh = self._fresh(result.records)
        if fresh:
            await self.sink.send_records(fresh)
        self.counters.accepted += len(fresh)
        duplicates = len(result.records) - len(fresh)
        self.counters.duplicates += duplicates
        if result.problems:
            for problem in result.problems:
                self.counters.rejected[problem.field] += 1
            letter = DeadLetter(
                field=result.problems[0].field if len(result.problems) == 1 else "$",
                reason="; ".join(f"{p.field}: {p.reason}" for p in result.problems),
                stage=f"adapter:{self.adapter.name}",
                source_topic=self.source,
                sealed=SEAL_SCHEME,
            )
            await self.sink.dead_letter(seal(payload, self.adapter.context.secret), key, letter)
            self.counters.dead_lettered += 1
        return IngestOutcome(len(fresh), duplicates, tuple(result.problems))
