"""The dead-letter contract: a rejected message keeps its original bytes; the reason goes in headers.

The value of a dead-letter message is the original value, byte for byte, and its key the original
key, so nothing is lost and the message can be replayed once fixed. Kafka headers say why:

=============================== ==========================================================
header                          meaning
=============================== ==========================================================
``wardwatch.error.field``       path of the offending field (``$.value``), ``$`` for all
``wardwatch.error.reason``      what is wrong, in words
``wardwatch.error.stage``       which stage rejected it (``influx-sink``, an adapter name)
``wardwatch.source.topic``      where the message came from
``wardwatch.source.partition``  its partition (absent for messages not read from Kafka)
``wardwatch.source.offset``     its offset (likewise)
``wardwatch.failed_at_ns``      when it was rejected, UTC epoch ns
``wardwatch.payload.sealed``    present when the value is sealed (see below): the scheme
=============================== ==========================================================

A message rejected *by an adapter* has not been pseudonymized yet and may carry a patient's name
and record number; its value is therefore sealed (:mod:`wardwatch.streams.sealing`): encrypted
with a key only the adapters hold, so nothing is lost and no identifier is readable on the topic.
Messages rejected later in the pipeline carry only pseudonymous references and stay in the clear.

Reasons never carry patient identifiers: they name fields and describe values, and the only
patient key in the pipeline is the pseudonymous reference.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

__all__ = ["DeadLetter", "dead_letter_headers", "parse_dead_letter_headers"]

_PREFIX = "wardwatch."


@dataclass(frozen=True)
class DeadLetter:
    """Why a message was rejected, and where it came from."""

    field: str
    reason: str
    stage: str
    source_topic: str
    source_partition: int | None = None
    source_offset: int | None = None
    failed_at_ns: int = 0
    sealed: str = ""  # the sealing scheme when the value is sealed


def dead_letter_headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    """Kafka headers for ``letter`` (``failed_at_ns`` = now when 0)."""
    failed_at = letter.failed_at_ns or time.time_ns()
    headers = [
        ("wardwatch.error.field", letter.field),
        ("wardwatch.error.reason", letter.reason[:2000]),
        ("wardwatch.error.stage", letter.stage),
        ("wardwatch.source.topic", letter.source_topic),
        ("wardwatch.failed_at_ns", str(failed_at)),
    ]
    if letter.source_partition is not None:
        headers.append(("wardwatch.source.partition", str(letter.source_partition)))
    if letter.source_offset is not None:
        headers.append(("wardwatch.source.offset", str(letter.source_offset)))
    if letter.sealed:
        headers.append(("wardwatch.payload.sealed", letter.sealed))
    return [(key, value.encode("utf-8")) for key, value in headers]


def parse_dead_letter_headers(headers: list[tuple[str, bytes]] | dict[str, bytes]) -> DeadLetter:
    """Read a :class:`DeadLetter` back from Kafka headers."""
    items = headers.items() if isinstance(headers, dict) else headers
    h = {k: (v.decode("utf-8") if isinstance(v, bytes) else str(v)) for k, v in items if k.startswith(_PREFIX)}
    return DeadLetter(
        field=h.get("wardwatch.error.field", "$"),
        reason=h.get("wardwatch.error.reason", ""),
        stage=h.get("wardwatch.error.stage", ""),
        source_topic=h.get("wardwatch.source.topic", ""),
        source_partition=int(h["wardwatch.source.partition"]) if "wardwatch.source.partition" in h else None,
        source_offset=int(h["wardwatch.source.offset"]) if "wardwatch.source.offset" in h else None,
        failed_at_ns=int(h.get("wardwatch.failed_at_ns", "0")),
        sealed=h.get("wardwatch.payload.sealed", ""),
    )
