"""The alarm log (IEC 60601-1-8): every alarm state change and every notification, kept and queryable.

Each entry is an :class:`AlarmLogEntry`: when, which alert, which patient (pseudonymous reference),
ward, bed, kind (physiological / technical), priority, and the event: ``raised``, ``worsened``,
``acknowledged`` (with the acknowledging role, never a name), ``escalated``, ``resolved`` or
``notified`` (tier, channel, outcome, attempts). Entries travel on the Kafka topic ``alarm-log``
(:func:`encode_entry` / :func:`decode_entry`) and are stored in InfluxDB:

=============== ======= ================================================================
name            kind    meaning
=============== ======= ================================================================
ward, bed       tag     where
patient         tag     pseudonymous patient reference
kind            tag     ``physiological`` or ``technical``
priority        tag     ``high``, ``medium`` or ``low``
event           tag     ``raised``, ``worsened``, ``acknowledged``, ``escalated``, ``resolved``, ``notified``
alert_id        field   the alert's deterministic id
source          field   rule or detector that raised it
detail          field   message, failure reason or remark (string)
role            field   who acknowledged (a role such as ``nurse``)
tier, channel   field   notified: tier and channel (``email``, ``webhook:host:port``)
outcome         field   notified: ``delivered``, ``failed`` or ``duplicate``
attempts        field   notified: delivery attempts (integer)
latency_ms      field   notified: first attempt to answer, milliseconds
notification_id field   notified: the notification's id
time                    the event's time, nanoseconds
=============== ======= ================================================================

InfluxDB keeps one point per series and timestamp, so two different entries of one series at the
same nanosecond (two rules raised by one sample, two channels answering at once) would overwrite
each other; :class:`AlarmLog` moves the later one on by a nanosecond or a few instead.

>>> from wardwatch.streams.records import Alert, alert_id
>>> ref, t = "p-0123456789abcdef0123", 1_767_225_600_000_000_000
>>> alert = Alert(alert_id=alert_id(ref, "spo2_low", t), patient_ref=ref, ward="ward-a", bed="07",
...     kind="physiological", priority="high", source="spo2_low", onset_ns=t, updated_ns=t, state="active")
>>> entry = alert_entry(alert, "raised")
>>> entry_to_point(entry)["tags"]["event"]
'raised'
>>> decode_entry(encode_entry(entry)) == entry
True
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

import msgspec
from influxdb.exceptions import InfluxDBClientError

from wardwatch.streams.records import MAX_TIMESTAMP_NS, MIN_TIMESTAMP_NS, Alert

if TYPE_CHECKING:
    from wardwatch.agents.influx import InfluxWriter
    from wardwatch.alerting.channels.base import DeliveryResult, Notification

__all__ = [
    "ALARM_LOG_MEASUREMENT",
    "AlarmEvent",
    "AlarmLogEntry",
    "alert_entry",
    "delivery_entry",
    "entry_to_point",
    "encode_entry",
    "decode_entry",
    "describe",
    "AlarmLog",
    "query_alarm_log",
]

logger = logging.getLogger(__name__)

ALARM_LOG_MEASUREMENT = "alarm_log"

AlarmEvent = Literal["raised", "worsened", "acknowledged", "escalated", "resolved", "notified"]


class AlarmLogEntry(msgspec.Struct, frozen=True, kw_only=True, tag="alarm_log", tag_field="type"):
    """One line of the alarm log (see the module's table for the meaning of each field)."""

    time_ns: int
    alert_id: str
    patient_ref: str
    ward: str
    bed: str
    kind: Literal["physiological", "technical"]
    priority: Literal["high", "medium", "low"]
    event: AlarmEvent
    source: str = ""
    detail: str = ""
    role: str = ""
    tier: str = ""
    channel: str = ""
    outcome: Literal["", "delivered", "failed", "duplicate"] = ""
    attempts: int = 0
    latency_ms: float | None = None
    notification_id: str = ""

    def __post_init__(self) -> None:
        if not MIN_TIMESTAMP_NS <= self.time_ns < MAX_TIMESTAMP_NS:
            raise ValueError(f"time_ns {self.time_ns} is not UTC epoch nanoseconds between 2000 and 2100")
        if self.event == "notified" and not (self.tier and self.channel and self.outcome):
            raise ValueError("a 'notified' entry needs tier, channel and outcome")


def alert_entry(alert: Alert, event: AlarmEvent, *, time_ns: int | None = None, detail: str | None = None, role: str = "") -> AlarmLogEntry:
    """The entry of a state change of ``alert`` (time: ``alert.updated_ns`` unless given;
    detail: the alert's message unless given; ``role``: who acknowledged, e.g. ``nurse``)."""
    return AlarmLogEntry(
        time_ns=alert.updated_ns if time_ns is None else time_ns,
        alert_id=alert.alert_id,
        patient_ref=alert.patient_ref,
        ward=alert.ward,
        bed=alert.bed,
        kind=alert.kind,
        priority=alert.priority,
        event=event,
        source=alert.source,
        detail=alert.message if detail is None else detail,
        role=role,
    )


def delivery_entry(notification: Notification, result: DeliveryResult, *, time_ns: int | None = None) -> AlarmLogEntry:
    """The ``notified`` entry of one channel's answer to ``notification`` (time: now unless given)."""
    alert = notification.alert
    return AlarmLogEntry(
        time_ns=time.time_ns() if time_ns is None else time_ns,
        alert_id=alert.alert_id,
        patient_ref=alert.patient_ref,
        ward=alert.ward,
        bed=alert.bed,
        kind=alert.kind,
        priority=alert.priority,
        event="notified",
        source=alert.source,
        detail=result.reason,
        tier=notification.tier,
        channel=result.channel,
        outcome=result.outcome,
        attempts=result.attempts,
        latency_ms=round(result.latency_s * 1000.0, 3),
        notification_id=notification.notification_id,
    )


_TAGS = ("ward", "bed", "patient_ref", "kind", "priority", "event")
_TAG_NAMES = {"patient_ref": "patient"}
_STR_FIELDS = ("alert_id", "source", "detail", "role", "tier", "channel", "outcome", "notification_id")


def entry_to_point(entry: AlarmLogEntry, time_ns: int | None = None) -> dict[str, Any]:
    """The InfluxDB point of ``entry`` (empty strings and unset numbers are left out)."""
    fields: dict[str, Any] = {name: getattr(entry, name) for name in _STR_FIELDS if getattr(entry, name)}
    if entry.event == "notified":
        fields["attempts"] = int(entry.attempts)
        if entry.latency_ms is not None:
            fields["latency_ms"] = float(entry.latency_ms)
    return {
        "measurement": ALARM_LOG_MEASUREMENT,
        "tags": {_TAG_NAMES.get(t, t): getattr(entry, t) for t in _TAGS},
        "fields": fields,
        "time": entry.time_ns if time_ns is None else time_ns,
    }


def _row_to_entry(row: dict[str, Any]) -> AlarmLogEntry:
    values: dict[str, Any] = {t: row.get(_TAG_NAMES.get(t, t)) for t in _TAGS}
    values.update({f: row.get(f) or "" for f in _STR_FIELDS})
    values["attempts"] = int(row.get("attempts") or 0)
    values["latency_ms"] = row.get("latency_ms")
    return AlarmLogEntry(time_ns=int(row["time"]), **values)


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(AlarmLogEntry)


def encode_entry(entry: AlarmLogEntry) -> bytes:
    """MessagePack bytes of ``entry`` for the ``alarm-log`` topic (key: the patient reference)."""
    return _ENCODER.encode(entry)


def decode_entry(data: bytes) -> AlarmLogEntry:
    """Inverse of :func:`encode_entry`; raises :class:`msgspec.ValidationError` on a bad message."""
    return _DECODER.decode(data)


def describe(entry: AlarmLogEntry) -> str:
    """One human-readable line (what ``wardwatch alarms log`` prints)."""
    when = datetime.fromtimestamp(entry.time_ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    head = f"{when} UTC  {entry.ward} bed {entry.bed}  {entry.patient_ref}  {entry.priority.upper():<6} {entry.kind:<13} {entry.event:<12}"
    if entry.event == "notified":
        latency = f", {entry.latency_ms:.0f} ms" if entry.latency_ms is not None else ""
        what = f"{entry.tier} via {entry.channel}: {entry.outcome} ({entry.attempts} attempt(s){latency})"
    elif entry.event == "acknowledged":
        what = f"by {entry.role or 'unknown role'}"
    else:
        what = entry.source
    tail = f"  {entry.detail}" if entry.detail else ""
    return f"{head} {what}  {entry.alert_id}{tail}"


class AlarmLog:
    """Writes alarm-log entries to InfluxDB through an :class:`~wardwatch.agents.influx.InfluxWriter`.

    Keeps each series' timestamps distinct (see the module docstring); the same entry written
    again keeps its timestamp, so a replay overwrites rather than duplicates.

    Parameters
    ----------
    writer
        Where the points go.
    max_series
        Series whose last timestamp is remembered (least recently used are forgotten).
    """

    def __init__(self, writer: InfluxWriter, max_series: int = 100_000) -> None:
        self.writer = writer
        self.max_series = max_series
        # series -> (original time_ns, largest assigned time_ns, {entry digest: assigned time_ns})
        self._last: OrderedDict[tuple[str, ...], tuple[int, int, dict[bytes, int]]] = OrderedDict()

    def timestamp_for(self, entry: AlarmLogEntry) -> int:
        """The time ``entry`` is stored at: its own, or moved on past an earlier entry of its series
        at the same nanosecond. The same entry asked again (while its time is still the newest of its
        series) gets the same answer, so re-writing it overwrites rather than duplicates."""
        series = tuple(getattr(entry, t) for t in _TAGS)
        digest = hashlib.blake2b(encode_entry(entry), digest_size=16).digest()
        state = self._last.get(series)
        if state is None or entry.time_ns > state[0]:
            assigned = entry.time_ns if state is None else max(entry.time_ns, state[1] + 1)
            self._last[series] = (entry.time_ns, assigned, {digest: assigned})
        elif entry.time_ns == state[0]:
            assigned = state[2].get(digest, state[1] + 1)
            state[2][digest] = assigned
            self._last[series] = (state[0], max(state[1], assigned), state[2])
        else:  # older than the newest entry of its series: written as it is
            return entry.time_ns
        self._last.move_to_end(series)
        while len(self._last) > self.max_series:
            self._last.popitem(last=False)
        return assigned

    def write(self, entries: Iterable[AlarmLogEntry]) -> int:
        """Write ``entries`` (blocking); return how many."""
        points = [entry_to_point(e, self.timestamp_for(e)) for e in entries]
        self.writer.write_points(points)
        return len(points)

    async def awrite(self, entries: Sequence[AlarmLogEntry]) -> int:
        """:meth:`write` from async code (in a worker thread)."""
        return await asyncio.to_thread(self.write, list(entries))


def query_alarm_log(
    writer: InfluxWriter,
    *,
    start_ns: int,
    end_ns: int,
    patient_ref: str | None = None,
    bed: str | None = None,
    ward: str | None = None,
    limit: int = 10_000,
) -> list[AlarmLogEntry]:
    """Entries with ``start_ns <= time < end_ns``, oldest first, optionally of one patient, bed, ward.

    Returns an empty list when the database or the measurement does not exist yet.
    """
    clauses = ["time >= $start", "time < $end"]
    params: dict[str, Any] = {"start": int(start_ns), "end": int(end_ns)}
    for name, tag, value in (("patient", "patient", patient_ref), ("bed", "bed", bed), ("ward", "ward", ward)):
        if value is not None:
            clauses.append(f'"{tag}" = ${name}')
            params[name] = value
    q = f'SELECT * FROM "{ALARM_LOG_MEASUREMENT}" WHERE {" AND ".join(clauses)} ORDER BY time ASC LIMIT {int(limit)}'
    try:
        rows = writer.query(q, bind_params=params)
    except InfluxDBClientError as exc:
        if "database not found" in str(exc):
            return []
        raise
    return [_row_to_entry(row) for row in rows]
