"""InfluxDB through its v1 HTTP API, with InfluxData's ``influxdb`` client.

Schema of what the numerics sink writes (measurement ``vitals``):

========== ======= ==================================================================
name       kind    meaning
========== ======= ==================================================================
ward       tag     ward identifier
bed        tag     bed label
patient    tag     pseudonymous patient reference (``p-`` + 20 hex digits), never an identifier
signal     tag     MDC reference id (``MDC_ECG_HEART_RATE``); its unit is the table's canonical unit
value      field   float, in the signal's canonical UCUM unit
device     field   device id (string)
quality    field   comma-separated quality flags (string), only when there are some
time               the observation's timestamp, nanosecond precision
========== ======= ==================================================================

Derived values (measurement ``features``), one point per Features record:

========== ======= ==================================================================
ward, bed  tag     as above
patient    tag     pseudonymous patient reference
source     tag     what computed them: ``news2``, ``trends``, ``ecg``, ...
<name>     field   one float per value, e.g. ``news2.total``, ``news2.spo2``, ``input.spo2_pct``
flags      field   comma-separated flags (string), e.g. ``partial``, only when there are some
time               the evaluation's timestamp, nanosecond precision
========== ======= ==================================================================
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError

from wardwatch.config import InfluxSettings
from wardwatch.streams.records import Features, NumericObservation

__all__ = ["VITALS_MEASUREMENT", "FEATURES_MEASUREMENT", "to_point", "features_to_point", "InfluxWriter"]

logger = logging.getLogger(__name__)

VITALS_MEASUREMENT = "vitals"
FEATURES_MEASUREMENT = "features"


def to_point(record: NumericObservation) -> dict[str, Any]:
    """The InfluxDB point of one numeric observation (see the module's schema)."""
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


class InfluxWriter:
    """A synchronous InfluxDB v1 client bound to one database. Call it from a thread in async code."""

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

    def ping(self) -> str:
        """Return the server's version; raises when it does not answer."""
        return str(self._client.ping())

    def ensure_database(self) -> None:
        """Create the database if it does not exist (idempotent)."""
        self._client.create_database(self.database)

    def drop_database(self) -> None:
        self._client.drop_database(self.database)

    def write_points(self, points: Sequence[dict[str, Any]]) -> None:
        """Write ``points`` (one request per ``batch_size``), nanosecond precision; create the
        database first if it does not exist. Raises on failure."""
        if not points:
            return
        try:
            self._client.write_points(list(points), time_precision="n", batch_size=self.settings.batch_size)
        except InfluxDBClientError as exc:
            if exc.code != 404 or "database not found" not in str(exc.content):
                raise
            logger.info("creating InfluxDB database %r", self.database)
            self.ensure_database()
            self._client.write_points(list(points), time_precision="n", batch_size=self.settings.batch_size)

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
