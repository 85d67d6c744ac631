"""The alarm path: alert agent, notify agent, alarm-log agent, and the alarm clock.

=================== ====================================================== ===============================
agent               reads                                                  writes
=================== ====================================================== ===============================
``alert``           numerics, waveforms, features, charted events, acks,    ``alerts``, ``notifications``,
                    alarm ticks                                            ``alarm-log``
``notify``          ``notifications``                                      channels (webhook, e-mail),
                                                                           ``alarm-log``
``alarm-log``       ``alarm-log``                                          InfluxDB ``alarm_log``
=================== ====================================================== ===============================

Each patient's :class:`~wardwatch.alerting.engine.PatientAlarmEngine` lives in the Faust table
``patient-alarms`` (changelog-backed). The engine is replay-safe and its outputs carry deterministic
ids, so records processed again after a restart raise nothing twice. Delivered notification ids are
kept in the table ``notifications-sent``; a notification is sent again only if the worker died
between delivering it and recording it (receivers drop such repeats by ``Idempotency-Key`` /
``Message-ID``).

The alarm clock: every ``WARDWATCH_ALERT_TICK_S`` each worker sends an :class:`AlarmTick` (wall-clock
time) for every patient in its partitions, so no-data alarms and escalations fire when no record
comes. A tick at or before a patient's event time changes nothing (accelerated replays run ahead of
the clock).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import faust
import msgspec
from faust.types import EventT

from wardwatch.agents.influx import InfluxWriter
from wardwatch.agents.notes import latest_note, notes_table
from wardwatch.agents.sinks import dead_letter_event, guarded, until_written
from wardwatch.alerting.alarmlog import AlarmLog, AlarmLogEntry, alert_entry, decode_entry, delivery_entry, encode_entry
from wardwatch.alerting.channels.base import Notification
from wardwatch.alerting.channels.router import NotificationRouter
from wardwatch.alerting.config import AlarmConfig, load_config
from wardwatch.alerting.engine import PatientAlarmEngine
from wardwatch.alerting.escalation import NotificationRequest
from wardwatch.alerting.state import AlarmOutput
from wardwatch.config import Settings
from wardwatch.errors import SchemaValidationError
from wardwatch.streams.codec import decode, encode
from wardwatch.streams.records import AlarmAck, ChartedEvent, Features, NumericObservation, WaveformChunk

__all__ = ["AlarmTick", "register_alerting", "ALERT_STAGE", "log_entries"]

logger = logging.getLogger(__name__)

ALERT_STAGE = "alert"


class AlarmTick(msgspec.Struct, frozen=True, kw_only=True, tag="tick", tag_field="type"):
    """Re-evaluate one patient at ``now_ns`` (no record came)."""

    patient_ref: str
    now_ns: int


AlertInput = NumericObservation | WaveformChunk | Features | ChartedEvent | AlarmAck | AlarmTick
_ENCODE = msgspec.msgpack.Encoder()


def log_entries(out: AlarmOutput) -> list[AlarmLogEntry]:
    """Alarm-log entries of one engine output: one per alert state change."""
    worsened = {n.alert_id for n in out.notifications if n.reason == "worsened"}
    entries = []
    for alert in out.alerts:
        if alert.state in ("acknowledged", "escalated", "resolved"):
            event = alert.state
        else:
            event = "worsened" if alert.alert_id in worsened else "raised"
        entries.append(alert_entry(alert, event))  # type: ignore[arg-type]
    return entries


def register_alerting(app: faust.App, settings: Settings, names: dict[str, str], dlq: faust.TopicT) -> None:
    """Add the alarm path's topics, tables, agents and timer to ``app``."""
    kafka = settings.kafka
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw", "partitions": kafka.partitions}
    config: AlarmConfig = load_config(settings.alert.rules_path or None)
    # waveforms too: their quality flags (lead off, probe off) drive technical alarms
    inputs = app.topic(names["numerics"], names["waveforms"], names["features"], names["events"], names["acks"],
                       names["alarm_ticks"], **raw)
    ticks = app.topic(names["alarm_ticks"], **raw)
    alerts = app.topic(names["alerts"], **raw)
    notifications = app.topic(names["notifications"], **raw)
    alarm_log = app.topic(names["alarm_log"], **raw)
    engines = app.Table("patient-alarms", default=None, key_type=bytes, value_type=bytes, partitions=kafka.partitions)
    sent = app.Table("notifications-sent", default=None, key_type=bytes, value_type=bytes, partitions=kafka.partitions)
    control_topics = {names["acks"], names["alarm_ticks"]}

    async def evaluate(event: EventT) -> None:
        message = event.message
        try:
            record = decode(message.value, AlertInput)
        except SchemaValidationError as exc:
            if message.topic in control_topics:  # bad records on the other topics are dead-lettered by their sinks
                await dead_letter_event(dlq, event, exc.field, exc.reason, ALERT_STAGE)
            return
        key = record.patient_ref.encode()
        state = engines.get(key)
        if state is None:
            if isinstance(record, (AlarmTick, AlarmAck)):
                return  # nothing known of this patient yet
            engine = PatientAlarmEngine(record.patient_ref, record.ward, record.bed, config)
        else:
            engine = PatientAlarmEngine.from_state(record.patient_ref, msgspec.msgpack.decode(state), config)
        out = engine.tick(record.now_ns) if isinstance(record, AlarmTick) else engine.process(record)
        if isinstance(record, AlarmTick) and not out:
            return  # a quiet tick: nothing to store
        engines[key] = _ENCODE.encode(engine.to_state())
        for a in out.alerts:
            await alerts.send(key=key, value=encode(a))
        for entry in log_entries(out):
            await alarm_log.send(key=key, value=encode_entry(entry))
        for request in out.notifications:
            await notifications.send(key=key, value=_ENCODE.encode(request))

    @app.agent(inputs, name="alert")
    async def alert(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await guarded(dlq, event, ALERT_STAGE, evaluate)

    @app.timer(interval=settings.alert.tick_s, name="alarm-clock")
    async def alarm_clock() -> None:
        now = time.time_ns()
        for key in list(engines.keys()):
            await ticks.send(key=key, value=_ENCODE.encode(AlarmTick(patient_ref=key.decode(), now_ns=now)))

    router_box: list[NotificationRouter] = []
    notes_latest = notes_table(app, kafka.partitions)  # the note agent's latest note per alert (issue 7)

    @app.agent(notifications, name="notify")
    async def notify(stream: faust.StreamT[bytes]) -> None:
        if not router_box:
            router_box.append(NotificationRouter.from_settings(settings.notify))
        router = router_box[0]
        decoder = msgspec.msgpack.Decoder(NotificationRequest)

        async def deliver(event: EventT) -> None:
            try:
                request = decoder.decode(event.message.value)
            except msgspec.DecodeError as exc:
                await dead_letter_event(dlq, event, "$", str(exc), "notify")
                return
            nid = request.notification_id.encode()
            if sent.get(nid) is not None:
                return  # delivered before a restart
            notification = Notification(notification_id=request.notification_id, alert=request.alert,
                                        tier=request.tier, reason=request.reason,
                                        note=latest_note(notes_latest, request.patient_ref, request.alert_id))
            results = await router.dispatch(notification)
            if any(r.delivered for r in results):
                sent[nid] = str(time.time_ns()).encode()
            for result in results:
                await alarm_log.send(key=event.message.key, value=encode_entry(delivery_entry(notification, result)))

        async for event in stream.events():
            await guarded(dlq, event, "notify", deliver)

    log = AlarmLog(InfluxWriter(settings.influx))

    @app.agent(alarm_log, name="alarm-log")
    async def write_alarm_log(stream: faust.StreamT[bytes]) -> None:
        async for events in stream.take_events(settings.influx.batch_size, within=settings.influx.flush_interval_s):
            entries = []
            for event in events:
                try:
                    entries.append(decode_entry(event.message.value))
                except msgspec.DecodeError as exc:
                    await dead_letter_event(dlq, event, "$", str(exc), "alarm-log")
            if entries:
                await until_written(lambda: log.write(entries), f"{len(entries)} alarm-log entries")
