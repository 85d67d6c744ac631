"""InfluxDB through its v1 HTTP API, with InfluxData's ``influxdb`` client.

Every measurement, tag and field WardWatch writes is documented in ``docs/influxdb-schema.md``;
patients appear only as their pseudonymous reference (tag ``patient``). In short:

=================== ============== ==============================================================
measurement         policy         written by
=================== ============== ==============================================================
``vitals``          ``autogen``    ``influx-numerics``: one point per numeric observation
``features``        ``autogen``    ``influx-features``: NEWS2, trends, ECG/PPG/respiration values
``alarm_log``       ``autogen``    ``alarm-log`` (:mod:`wardwatch.alerting.alarmlog`)
``alert_state``     ``autogen``    ``influx-alerts``: every alert state change
``alert_notes``     ``autogen``    the note agent
``waveforms``       ``waveforms``  (reserved for raw waveform strips; nothing writes it yet)
``sink_writes``     ``operations`` every :class:`InfluxWriter`: points, requests, delay, failures
``dead_letters``    ``operations`` ``influx-dead-letters``: one point per dead letter
=================== ============== ==============================================================

Retention: the database's default policy (``autogen``) keeps the clinical record
(``WARDWATCH_INFLUX_RETENTION_CLINICAL``, 365 days); ``waveforms`` 24 hours and ``operations`` 14
days. :meth:`InfluxWriter.ensure_schema` creates or alters them, idempotently, before the first
write; each point goes to its measurement's policy (:data:`RETENTION_POLICY_OF`).

Delivery: see :mod:`wardwatch.agents.sinks`: a batch is retried with backoff while InfluxDB does
not answer and the agent reads nothing further, so Kafka keeps the backlog and no offset is
committed past what was written. Each writer reports what it wrote every
:data:`STATS_INTERVAL_S` seconds into ``operations.sink_writes``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import weakref
import time
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import faust
from faust.types import EventT
from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError

from wardwatch.config import InfluxSettings, Settings
from wardwatch.streams.records import Alert, Features, NumericObservation

__all__ = [
    "VITALS_MEASUREMENT",
    "FEATURES_MEASUREMENT",
    "ALERT_STATE_MEASUREMENT",
    "SINK_WRITES_MEASUREMENT",
    "DEAD_LETTERS_MEASUREMENT",
    "WAVEFORMS_MEASUREMENT",
    "RETENTION_POLICY_OF",
    "STATS_INTERVAL_S",
    "to_point",
    "features_to_point",
    "alert_to_point",
    "dead_letter_to_point",
    "InfluxWriter",
    "register_influx_sinks",
]

logger = logging.getLogger(__name__)

VITALS_MEASUREMENT = "vitals"
FEATURES_MEASUREMENT = "features"
ALERT_STATE_MEASUREMENT = "alert_state"
WAVEFORMS_MEASUREMENT = "waveforms"
SINK_WRITES_MEASUREMENT = "sink_writes"
DEAD_LETTERS_MEASUREMENT = "dead_letters"

#: The retention policy of each measurement not kept in the database's default policy.
RETENTION_POLICY_OF: dict[str, str] = {
    WAVEFORMS_MEASUREMENT: "waveforms",
    SINK_WRITES_MEASUREMENT: "operations",
    DEAD_LETTERS_MEASUREMENT: "operations",
}
#: Seconds between two ``sink_writes`` reports of one writer.
STATS_INTERVAL_S = 10.0
_ACTIVE_STATES = ("active", "escalated")


def to_point(record: NumericObservation) -> dict[str, Any]:
    """The InfluxDB point of one numeric observation (measurement ``vitals``)."""
    fields: dict[str, Any] = {"value": float(record.value), "device": record.device_id}
    if record.quality:
        fields["quality"] = ",".join(record.quality)
    return {
        "measurement": VITALS_MEASUREMENT,
        "tags": {"ward": record.ward, "bed": record.bed, "patient": record.patient_ref, "signal": record.signal},
        "fields": fields,
        "time": record.timestamp_ns,
    }


def features_to_point(record: Features) -> dict[str, Any]:
    """The InfluxDB point of one Features record (NaN values are left out: InfluxDB has no NaN)."""
    fields: dict[str, Any] = {k: float(v) for k, v in record.values.items() if v == v}
    if record.flags:
        fields["flags"] = ",".join(record.flags)
    if not fields:
        fields["flags"] = "empty"
    return {
        "measurement": FEATURES_MEASUREMENT,
        "tags": {"ward": record.ward, "bed": record.bed, "patient": record.patient_ref, "source": record.source},
        "fields": fields,
        "time": record.timestamp_ns,
    }


def alert_to_point(alert: Alert) -> dict[str, Any]:
    """The ``alert_state`` point of one alert state change (at ``updated_ns``).

    ``active`` is 1 while the alarm is active or escalated, 0 once acknowledged or resolved, so
    ``last(active)`` per ``alert_id`` tells which alarms are open now. ``priority`` is a field, not
    a tag: an alarm that worsens from medium to high stays one series.

    >>> from wardwatch.streams.records import alert_id
    >>> ref, t = "p-0123456789abcdef0123", 1_767_225_600_000_000_000
    >>> a = Alert(alert_id=alert_id(ref, "spo2.low", t), patient_ref=ref, ward="ward-a", bed="07",
    ...     kind="physiological", priority="high", source="spo2.low", onset_ns=t, updated_ns=t, state="active")
    >>> p = alert_to_point(a); (p["fields"]["priority"], p["fields"]["active"], p["fields"]["state"])
    ('high', 1, 'active')
    """
    return {
        "measurement": ALERT_STATE_MEASUREMENT,
        "tags": {"ward": alert.ward, "bed": alert.bed, "patient": alert.patient_ref, "kind": alert.kind,
                 "alert_id": alert.alert_id},
        "fields": {"state": alert.state, "active": int(alert.state in _ACTIVE_STATES), "priority": alert.priority,
                   "source": alert.source,
                   "onset_ns": int(alert.onset_ns), "message": alert.message},
        "time": alert.updated_ns,
    }


def dead_letter_to_point(stage: str, source: str, field: str, failed_at_ns: int) -> dict[str, Any]:
    """The ``dead_letters`` point of one dead letter: where it failed, never its reason or payload
    (an adapter's reason may quote the native message)."""
    return {
        "measurement": DEAD_LETTERS_MEASUREMENT,
        "tags": {"stage": stage or "unknown", "source": source or "unknown"},
        "fields": {"count": 1, "field": field[:200]},
        "time": failed_at_ns or time.time_ns(),
    }


#: Every writer of this process, for the stats timer of :func:`register_influx_sinks`.
_WRITERS: "weakref.WeakSet[InfluxWriter]" = weakref.WeakSet()


class InfluxWriter:
    """A synchronous InfluxDB v1 client bound to one database. Call it from a thread in async code.

    Thread-safe for :meth:`write_points` (two agents may share one writer through
    :func:`asyncio.to_thread`).
    """

    def __init__(self, settings: InfluxSettings) -> None:
        parts = urlsplit(settings.url)
        host, port = settings.host_port
        self.settings = settings
        self.database = settings.database
        self._client = InfluxDBClient(
            host=host,
            port=port,
            username=settings.username or None,
            password=settings.password.get_secret_value() or None,
            database=settings.database,
            ssl=parts.scheme == "https",
            verify_ssl=parts.scheme == "https",
            timeout=settings.timeout_s,
            retries=1,
            path=parts.path.strip("/"),
        )
        self._schema_ready = False
        self._lock = threading.Lock()
        self._stats: dict[str, list[float]] = {}  # measurement -> [points, requests, failures, write_ms_max, delay_s_max]
        self._stats_due = time.monotonic() + STATS_INTERVAL_S
        self._worker = f"{socket.gethostname()}-{os.getpid()}"
        _WRITERS.add(self)

    def ping(self) -> str:
        """Return the server's version; raises when it does not answer."""
        return str(self._client.ping())

    def ensure_database(self) -> None:
        """Create the database if it does not exist (idempotent)."""
        self._client.create_database(self.database)

    def ensure_schema(self) -> None:
        """Create the database and, unless ``manage_retention`` is off, set its retention policies
        (idempotent: the default policy's duration is altered, the others created or altered).

        A server that refuses policy statements (InfluxDB 2.x/3.x v1 compatibility: retention is
        the bucket's) gets a warning, not an error: the data is written all the same.
        """
        s = self.settings
        try:
            self.ensure_database()
            if not s.manage_retention:
                return
            existing = {rp["name"]: rp for rp in self._client.get_list_retention_policies(self.database)}
            default = next((name for name, rp in existing.items() if rp.get("default")), "autogen")
            wanted = {default: (s.retention_clinical, True), "waveforms": (s.retention_waveforms, False),
                      "operations": (s.retention_operations, False)}
            for name, (duration, is_default) in wanted.items():
                if name in existing:
                    self._client.alter_retention_policy(name, self.database, duration=duration, default=is_default or None)
                else:
                    self._client.create_retention_policy(name, duration, 1, self.database, default=is_default)
        except InfluxDBClientError as exc:
            logger.warning("could not set up database %r and its retention policies (%s); writing all the same",
                           self.database, str(exc.content)[:200])

    def drop_database(self) -> None:
        self._client.drop_database(self.database)

    def retention_policies(self) -> dict[str, str]:
        """Name → duration of the database's retention policies."""
        return {rp["name"]: rp["duration"] for rp in self._client.get_list_retention_policies(self.database)}

    def write_points(self, points: Sequence[dict[str, Any]]) -> None:
        """Write ``points`` to their measurements' retention policies, at most ``batch_size`` per
        request, nanosecond precision; set up the database first. Raises on failure."""
        if not points:
            return
        started = time.perf_counter()
        try:
            if not self._schema_ready:
                self.ensure_schema()
                self._schema_ready = True
            self._write_grouped(points)
        except Exception:
            self._record(points, 0.0, failed=True)
            raise
        self._record(points, (time.perf_counter() - started) * 1000.0, failed=False)
        self.report_stats()

    def _write_grouped(self, points: Sequence[dict[str, Any]]) -> None:
        groups: dict[str | None, list[dict[str, Any]]] = {}
        for point in points:
            groups.setdefault(RETENTION_POLICY_OF.get(point["measurement"]), []).append(point)
        for policy, group in groups.items():
            try:
                self._client.write_points(group, time_precision="n", batch_size=self.settings.batch_size,
                                          retention_policy=policy)
            except InfluxDBClientError as exc:
                if exc.code != 404 or "not found" not in str(exc.content):
                    raise
                logger.info("creating InfluxDB database %r and its retention policies", self.database)
                self.ensure_schema()
                self._client.write_points(group, time_precision="n", batch_size=self.settings.batch_size,
                                          retention_policy=policy)

    def _record(self, points: Sequence[dict[str, Any]], write_ms: float, failed: bool) -> None:
        now = time.time_ns()
        per: dict[str, tuple[int, int]] = {}
        for p in points:
            n, newest = per.get(p["measurement"], (0, 0))
            per[p["measurement"]] = (n + 1, max(newest, int(p.get("time") or 0)))
        with self._lock:
            for measurement, (n, newest) in per.items():
                if measurement == SINK_WRITES_MEASUREMENT:
                    continue
                s = self._stats.setdefault(measurement, [0, 0, 0, 0.0, 0.0])
                if failed:
                    s[2] += 1
                    continue
                s[0] += n
                s[1] += 1
                s[3] = max(s[3], write_ms)
                s[4] = max(s[4], (now - newest) / 1e9 if newest else 0.0)

    def report_stats(self) -> None:
        """Write what this writer wrote since its last report to ``operations.sink_writes``, if
        :data:`STATS_INTERVAL_S` has passed (after each write, and from the worker's stats timer, so
        the last interval before a quiet spell is not held back)."""
        with self._lock:
            if time.monotonic() < self._stats_due or not self._stats:
                return
            stats, self._stats = self._stats, {}
            self._stats_due = time.monotonic() + STATS_INTERVAL_S
        now = time.time_ns()
        report = [{"measurement": SINK_WRITES_MEASUREMENT, "tags": {"measurement": m, "worker": self._worker},
                   "fields": {"points": int(s[0]), "requests": int(s[1]), "failures": int(s[2]),
                              "write_ms_max": float(s[3]), "delay_s_max": float(s[4])}, "time": now}
                  for m, s in stats.items()]
        try:
            self._write_grouped(report)
        except Exception as exc:  # noqa: BLE001 - statistics never fail a data write
            logger.warning("could not write sink statistics (%s); they go with the next report", type(exc).__name__)
            with self._lock:  # keep them: an outage is exactly what the statistics must show afterwards
                for m, old in stats.items():
                    s = self._stats.setdefault(m, [0, 0, 0, 0.0, 0.0])
                    s[0], s[1], s[2] = s[0] + old[0], s[1] + old[1], s[2] + old[2]
                    s[3], s[4] = max(s[3], old[3]), max(s[4], old[4])

    def write_records(self, records: Iterable[NumericObservation]) -> int:
        points = [to_point(r) for r in records]
        self.write_points(points)
        return len(points)

    def query(self, influxql: str, bind_params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run an InfluxQL query; return its rows, each with its series' tags merged in."""
        result = self._client.query(influxql, bind_params=bind_params, epoch="ns")
        rows: list[dict[str, Any]] = []
        for (_, tags), points in result.items():
            for point in points:
                rows.append({**(tags or {}), **point})
        return rows

    def close(self) -> None:
        self._client.close()


def register_influx_sinks(app: faust.App, settings: Settings, names: dict[str, str], dlq: faust.TopicT) -> None:
    """Add the agents ``influx-alerts`` (``alerts`` → ``alert_state``) and ``influx-dead-letters``
    (``dlq`` → ``operations.dead_letters``) to ``app``. Idempotent per app."""
    if getattr(app, "_wardwatch_influx_sinks", False):
        return
    app._wardwatch_influx_sinks = True  # type: ignore[attr-defined]
    from wardwatch.agents.sinks import store_batch  # sinks imports this module
    from wardwatch.streams.deadletter import parse_dead_letter_headers

    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw", "partitions": settings.kafka.partitions}
    alerts = app.topic(names["alerts"], **raw)
    writer = InfluxWriter(settings.influx)
    batch, within = settings.influx.batch_size, settings.influx.flush_interval_s
    short = {topic: key for key, topic in names.items()}

    @app.agent(alerts, name="influx-alerts")
    async def influx_alerts(stream: faust.StreamT[bytes]) -> None:
        async for events in stream.take_events(batch, within=within):
            await store_batch(writer, dlq, events, Alert, alert_to_point)

    def letter_point(event: EventT) -> dict[str, Any]:
        headers = event.message.headers or []
        letter = parse_dead_letter_headers(headers if isinstance(headers, dict) else list(headers))
        return dead_letter_to_point(letter.stage, short.get(letter.source_topic, "other"), letter.field,
                                    letter.failed_at_ns)

    @app.timer(STATS_INTERVAL_S)
    async def report_sink_stats() -> None:
        for w in list(_WRITERS):
            await asyncio.to_thread(w.report_stats)

    @app.agent(dlq, name="influx-dead-letters")
    async def influx_dead_letters(stream: faust.StreamT[bytes]) -> None:
        from wardwatch.agents.sinks import write_points

        async for events in stream.take_events(batch, within=within):
            await write_points(writer, [letter_point(e) for e in events])
