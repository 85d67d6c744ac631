"""The note agent: alerts to verified clinician notes (issue 7).

=============== ============================ ===========================================================
agent           reads                        writes
=============== ============================ ===========================================================
``note``        ``features``, ``alerts``     ``alert-notes`` (one :class:`AlertNote` per alert raised or
                                             worsened: state ``active``, once per alert id and priority)
``note-sink``   ``alert-notes``              InfluxDB ``alert_notes``; the table ``alert-notes-latest``
=============== ============================ ===========================================================

The ``note`` agent keeps each patient's :class:`~wardwatch.models.notes.facts.NoteContext` (latest
NEWS2, trends, signal quality, the patient's alarms and acknowledgements) in the table
``note-context``. For an alert it computes the facts at once, then writes the note in a background
task: at most ``WARDWATCH_LLM_CONCURRENCY`` at a time, each within ``WARDWATCH_LLM_TIMEOUT_S`` (then
the template note goes out). It is a separate agent from ``alert``: the alarm and its first
notification never wait for a note. The model is loaded once per worker, in a thread.

``note-sink`` writes each note to InfluxDB (measurement ``alert_notes``; tags ``patient_ref``,
``ward``, ``bed``, ``alert_id``, ``backend``, ``verified``; fields ``text`` (its lines joined by `` | ``:
one annotation line), ``rejection``, ``latency_ms``) for the dashboards' annotations, and keeps the latest note text of each alert in
the table ``alert-notes-latest`` (keyed by patient, like the ``notifications`` topic), which the
``notify`` agent reads: escalation notifications carry the note; the first notification of an
alarm goes out before its note exists and carries none.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust
import msgspec
from faust.types import EventT

from wardwatch.agents.influx import InfluxWriter
from wardwatch.agents.sinks import dead_letter_event, guarded, until_written
from wardwatch.config import Settings
from wardwatch.errors import SchemaValidationError
from wardwatch.models.notes.backends import make_backend
from wardwatch.models.notes.facts import NoteContext, build_facts
from wardwatch.models.notes.summarizer import NoteWriter
from wardwatch.models.notes.verifier import NoteVerifier
from wardwatch.streams.codec import decode, encode
from wardwatch.streams.records import Alert, AlertNote, Features

__all__ = ["register_notes", "notes_table", "latest_note", "note_point", "NOTES_MEASUREMENT", "NOTE_STAGE"]

logger = logging.getLogger(__name__)

NOTES_MEASUREMENT = "alert_notes"
NOTE_STAGE = "note"
_LATEST = "alert-notes-latest"
_KEEP_LATEST = 32
_ENC = msgspec.msgpack.Encoder()


def notes_table(app: faust.App, partitions: int) -> Any:
    """The table ``alert-notes-latest`` (patient ref -> {alert id: latest note text}); one per app."""
    if _LATEST in app.tables:
        return app.tables[_LATEST]
    return app.Table(_LATEST, default=None, key_type=bytes, value_type=bytes, partitions=partitions)


def latest_note(table: Any, patient_ref: str, alert_id: str) -> str:
    """The latest note text of ``alert_id``, or ``""`` when none has been written (yet)."""
    raw = table.get(patient_ref.encode())
    if raw is None:
        return ""
    return str(msgspec.msgpack.decode(raw).get(alert_id, ""))


def note_point(note: AlertNote) -> dict[str, Any]:
    """The InfluxDB point of one note (ward and bed from its facts)."""
    return {
        "measurement": NOTES_MEASUREMENT,
        "tags": {"patient_ref": note.patient_ref, "ward": str(note.facts.get("alarm.ward", "")),
                 "bed": str(note.facts.get("alarm.bed", "")), "alert_id": note.alert_id, "backend": note.backend,
                 "verified": "true" if note.verified else "false"},
        "fields": {"text": note.text.replace("\n", " | "), "rejection": note.rejection, "latency_ms": float(note.latency_ms)},
        "time": note.created_ns,
    }


def register_notes(app: faust.App, settings: Settings, names: dict[str, str], dlq: faust.TopicT) -> None:
    """Add the note agent, the note sink and their tables to ``app``."""
    kafka, llm = settings.kafka, settings.llm
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw", "partitions": kafka.partitions}
    inputs = app.topic(names["features"], names["alerts"], **raw)
    notes = app.topic(names["notes"], **raw)
    contexts = app.Table("note-context", default=None, key_type=bytes, value_type=bytes, partitions=kafka.partitions)
    latest = notes_table(app, kafka.partitions)
    box: list[NoteWriter] = []
    pending: set[asyncio.Task[None]] = set()

    async def writer() -> NoteWriter:
        if not box:
            backend = make_backend(llm)
            await asyncio.to_thread(backend.load)  # once per worker; the model may take a minute
            verifier = NoteVerifier.from_file(llm.verifier_path) if llm.verifier_path else NoteVerifier.default()
            if not box:
                box.append(NoteWriter(backend, verifier, timeout_s=llm.timeout_s, prompt_version=llm.prompt_version,
                                      log_prompts=llm.log_prompts))
        return box[0]

    limit = asyncio.Semaphore(llm.concurrency)

    async def write_note(key: bytes, alert: Alert, facts: list[Any]) -> None:
        try:
            async with limit:
                note = await (await writer()).write(alert, facts)
            await notes.send(key=key, value=encode(note))
            logger.info("note for alert %s: %s, verified %s, %.0f ms", alert.alert_id, note.backend, note.verified, note.latency_ms)
        except Exception:  # noqa: BLE001 - a note is never worth a worker
            logger.exception("note for alert %s failed", alert.alert_id)

    async def observe(event: EventT) -> None:
        message = event.message
        try:
            record = decode(message.value, Features | Alert)
        except SchemaValidationError as exc:
            if message.topic == names["alerts"]:  # bad features are dead-lettered by influx-features
                await dead_letter_event(dlq, event, exc.field, exc.reason, NOTE_STAGE)
            return
        key = record.patient_ref.encode()
        state = contexts.get(key)
        ctx = NoteContext.from_state(msgspec.msgpack.decode(state)) if state is not None else NoteContext()
        if isinstance(record, Alert) and record.state == "active" and ctx.first_note(record):
            task = asyncio.ensure_future(write_note(key, record, build_facts(record, ctx)))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if isinstance(record, Features) and record.source not in ("news2", "trends", "ecg", "ppg"):
            return
        ctx.observe(record)
        contexts[key] = _ENC.encode(ctx.to_state())

    @app.agent(inputs, name="note")
    async def note_agent(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await guarded(dlq, event, NOTE_STAGE, observe)

    influx = InfluxWriter(settings.influx)

    async def sink(event: EventT) -> None:
        try:
            note = decode(event.message.value, AlertNote)
        except SchemaValidationError as exc:
            await dead_letter_event(dlq, event, exc.field, exc.reason, "note-sink")
            return
        key = note.patient_ref.encode()
        old = latest.get(key)
        texts = dict(msgspec.msgpack.decode(old)) if old is not None else {}
        texts.pop(note.alert_id, None)
        texts[note.alert_id] = note.text
        latest[key] = _ENC.encode(dict(list(texts.items())[-_KEEP_LATEST:]))
        point = note_point(note)
        await until_written(lambda: influx.write_points([point]), "1 alert note")

    @app.agent(notes, name="note-sink")
    async def note_sink(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():  # notes are few (one per alarm): one at a time, in stream context
            await guarded(dlq, event, "note-sink", sink)
