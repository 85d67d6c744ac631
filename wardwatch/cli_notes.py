"""CLI commands: ``wardwatch notes show`` (read the alert-notes topic) and ``wardwatch notes check`` (issue 7)."""

from __future__ import annotations

import logging
import time

import click

__all__ = ["register"]

logger = logging.getLogger(__name__)


def register(cli: click.Group) -> None:
    """Add this module's commands to the top-level group."""

    @cli.group("notes")
    def notes() -> None:
        """Verified clinician notes of alarms (the alert-notes topic)."""

    @notes.command("show")
    @click.option("--alert", "alert_id", default="", help="Only the notes of this alert id (a-...).")
    @click.option("--since", "since_min", type=float, default=60.0, show_default=True, help="Notes of the last N minutes.")
    @click.option("--facts/--no-facts", default=False, help="Also print the facts each note was built from.")
    def show(alert_id: str, since_min: float, facts: bool) -> None:
        """Print notes: time, bed, backend, verified or the rejection, and the text."""
        from datetime import datetime, timezone

        from kafka import KafkaConsumer, TopicPartition

        from wardwatch.config import load_settings
        from wardwatch.streams.codec import decode
        from wardwatch.streams.records import AlertNote
        from wardwatch.streams.topics import topic_names

        settings = load_settings()
        topic = topic_names(settings.kafka.topic_prefix)["notes"]
        consumer = KafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers, group_id=None, consumer_timeout_ms=2000)
        try:
            parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            if not parts:
                raise click.ClickException(f"topic {topic} does not exist (wardwatch topics create)")
            consumer.assign(parts)
            start_ms = int((time.time() - since_min * 60) * 1000)
            for tp, found in consumer.offsets_for_times({tp: start_ms for tp in parts}).items():
                if found is None:
                    consumer.seek_to_end(tp)
                else:
                    consumer.seek(tp, found.offset)
            shown = 0
            for message in consumer:
                note = decode(message.value, AlertNote)
                if alert_id and note.alert_id != alert_id:
                    continue
                when = datetime.fromtimestamp(note.created_ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
                status = "verified" if note.verified else "NOT VERIFIED"
                click.echo(f"--- {when}  bed {note.facts.get('alarm.bed', '?')}  {note.alert_id}  {note.backend}  {status}"
                           f"  {note.latency_ms:.0f} ms" + (f"  (model note rejected: {note.rejection})" if note.rejection else ""))
                click.echo(note.text)
                if facts:
                    for key, value in sorted(note.facts.items()):
                        click.echo(f"    {key} = {value}")
                shown += 1
            click.echo(f"{shown} note(s)")
        finally:
            consumer.close()

    @notes.command("check")
    @click.argument("text")
    @click.option("--scenario", default="acute-desaturation", show_default=True,
                  help="Check TEXT against the facts of the first alarm of this scenario (or WFDB record).")
    def check(text: str, scenario: str) -> None:
        """Run the verifier on TEXT (a note; '\\n' separates lines) against a real alarm's facts."""
        from wardwatch.models.notes.evaluate import collect_alarms
        from wardwatch.models.notes.verifier import NoteVerifier
        from wardwatch.models.notes.writing import render_facts

        alarms = collect_alarms([scenario], b"wardwatch-notes-check-secret")
        if not alarms:
            raise click.ClickException(f"{scenario} raised no alarm")
        facts = alarms[0].facts
        click.echo(render_facts(facts))
        verdict = NoteVerifier.default().verify(text.replace("\\n", "\n"), facts)
        click.echo("ACCEPTED" if verdict.accepted else f"REJECTED: {verdict.reason}")
        for claim in verdict.checked:
            click.echo(f"  checked: {claim}")
