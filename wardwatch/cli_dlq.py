"""``wardwatch dlq show``: read the dead-letter topic — why each message was rejected, and the
message itself (adapters' dead letters are sealed; ``--unseal`` opens them with
``WARDWATCH_PSEUDONYM_SECRET``, for repair and replay by those allowed to see identifiers)."""

from __future__ import annotations

import datetime as dt

import click

from wardwatch.config import load_settings
from wardwatch.kafka_security import kafka_python_options
from wardwatch.streams.deadletter import parse_dead_letter_headers
from wardwatch.streams.sealing import UnsealError, is_sealed
from wardwatch.streams.sealing import unseal as open_sealed
from wardwatch.streams.topics import topic_name

__all__ = ["dlq"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def dlq() -> None:
    """Inspect the dead-letter topic."""


@dlq.command("show")
@click.option("--limit", type=click.IntRange(1, 100_000), default=20, show_default=True, help="Show at most this many, newest last.")
@click.option("--unseal", is_flag=True, help="Print sealed messages in the clear (needs WARDWATCH_PSEUDONYM_SECRET; they may hold identifiers).")
def dlq_show(limit: int, unseal: bool) -> None:
    """Print the last dead letters: when, which stage, which field, why, and the message."""
    from kafka import KafkaConsumer

    settings = load_settings()
    secret = settings.pseudonym.require_secret() if unseal else b""
    topic = topic_name(settings.kafka.topic_prefix, "dlq")
    consumer = KafkaConsumer(topic, bootstrap_servers=settings.kafka.bootstrap_servers, auto_offset_reset="earliest",
                             consumer_timeout_ms=2000, group_id=None, enable_auto_commit=False,
                             **kafka_python_options(settings.kafka))
    try:
        messages = list(consumer)[-limit:]
    finally:
        consumer.close()
    if not messages:
        click.echo(f"no dead letters on {topic}")
    for m in messages:
        letter = parse_dead_letter_headers(m.headers)
        when = dt.datetime.fromtimestamp(letter.failed_at_ns / 1e9, dt.timezone.utc).isoformat(timespec="seconds")
        where = f"{letter.source_topic}[{letter.source_partition}]@{letter.source_offset}" if letter.source_offset is not None else letter.source_topic
        click.echo(f"{when}  {letter.stage}  {where}  {letter.field}: {letter.reason}")
        value = m.value or b""
        if is_sealed(value):
            if not unseal:
                click.echo(f"    sealed ({len(value)} bytes; --unseal to read)")
                continue
            try:
                value = open_sealed(value, secret)
            except UnsealError as exc:
                click.echo(f"    sealed, cannot open: {exc}")
                continue
        click.echo("    " + value[:2000].decode("utf-8", "backslashreplace").replace("\r", "\\r").replace("\n", "\\n"))
