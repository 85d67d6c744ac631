"""The InfluxDB sink through an outage: a real worker writes to a real influxd of the test's own,
which is stopped and started again. Nothing is lost; while InfluxDB is away the worker commits
no offset past what it wrote, so Kafka keeps the backlog (the bounded buffer is one batch)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from wardwatch.agents.influx import InfluxWriter
from wardwatch.config import InfluxSettings
from wardwatch.stack import _render, _which
from wardwatch.streams.codec import encode
from wardwatch.streams.pseudonym import pseudonymize
from wardwatch.streams.records import NumericObservation

from ..conftest import TEST_SECRET
from .conftest import Isolated, WorkerProcess, free_port, wait_for

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "local" / "influxdb" / "influxdb.conf.template"


class OwnInfluxd:
    """A real influxd in a temporary folder on its own ports, started and stopped by the test."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.config = folder / "influxdb.conf"
        _render(TEMPLATE, self.config, host="127.0.0.1", port=self.port, rpc_port=free_port(), data_dir=folder)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answering(self) -> bool:
        try:
            return requests.get(f"{self.url}/ping", timeout=1).status_code == 204
        except requests.RequestException:
            return False

    def start(self) -> None:
        with open(self.folder / "influxd.log", "ab") as log:
            self.proc = subprocess.Popen([_which("influxd"), "run", "-config", str(self.config)], stdout=log, stderr=log)
        wait_for(self.answering, timeout=60, what="the test's influxd")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        assert not self.answering()


@pytest.fixture
def influxd(tmp_path: Path) -> Iterator[OwnInfluxd]:
    server = OwnInfluxd(tmp_path / "influxd")
    server.start()
    yield server
    if server.proc and server.proc.poll() is None:
        server.proc.kill()
        server.proc.wait()


def _observations(ref: str, start_ns: int, n: int) -> list[NumericObservation]:
    return [NumericObservation(patient_ref=ref, ward="ward-outage", bed="03", device_id="mon-03",
                               signal="MDC_ECG_HEART_RATE", unit="/min", timestamp_ns=start_ns + i * 1_000_000_000,
                               value=60.0 + i % 50) for i in range(n)]


def _committed_and_end(isolated: Isolated) -> tuple[int, int]:
    """Offsets of the worker's consumer group on the numerics topic: committed total, end total."""
    consumer = KafkaConsumer(bootstrap_servers=isolated.settings.kafka.bootstrap_servers,
                             group_id=isolated.settings.kafka.app_id, enable_auto_commit=False)
    try:  # no subscribe, no poll: this consumer never joins the worker's group
        topic = isolated.topics["numerics"]
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = consumer.end_offsets(parts)
        return sum(consumer.committed(tp) or 0 for tp in parts), sum(ends.values())
    finally:
        consumer.close()


def test_outage_loses_nothing_and_kafka_holds_the_backlog(isolated: Isolated, influxd: OwnInfluxd, tmp_path: Path) -> None:
    env = {**isolated.env, "WARDWATCH_INFLUX_URL": influxd.url, "WARDWATCH_INFLUX_BATCH_SIZE": "50"}
    worker = WorkerProcess(env, tmp_path / "worker.log")
    settings = InfluxSettings(url=influxd.url, database=isolated.settings.influx.database)
    reader = InfluxWriter(settings)
    ref = pseudonymize("MRN-OUTAGE-1", TEST_SECRET.encode())
    t0 = time.time_ns() - 3600 * 1_000_000_000
    before, during = _observations(ref, t0, 100), _observations(ref, t0 + 100 * 1_000_000_000, 400)
    producer = KafkaProducer(bootstrap_servers=isolated.settings.kafka.bootstrap_servers, acks="all")

    def stored() -> int:
        try:
            rows = reader.query('SELECT count("value") FROM "vitals"')
        except Exception:  # noqa: BLE001 - down, or the database not created yet
            return -1
        return int(rows[0]["count"]) if rows else 0

    try:
        for obs in before:
            producer.send(isolated.topics["numerics"], key=ref.encode(), value=encode(obs))
        producer.flush()
        wait_for(lambda: stored() == 100, timeout=120, what="the first 100 points in the test's InfluxDB")
        assert reader.retention_policies() == {"autogen": "8760h0m0s", "waveforms": "24h0m0s", "operations": "336h0m0s"}

        influxd.stop()  # InfluxDB goes away
        for obs in during:
            producer.send(isolated.topics["numerics"], key=ref.encode(), value=encode(obs))
        producer.flush()
        time.sleep(12)  # several backoff rounds and commit intervals
        committed, end = _committed_and_end(isolated)
        assert end == 500
        assert committed <= 100 + 50, f"committed {committed} of {end} while InfluxDB was down"  # at most one batch in flight
        assert worker.alive()
        assert "retrying in" in worker.output()

        influxd.start()  # InfluxDB comes back
        wait_for(lambda: stored() == 500, timeout=180, what="all 500 points after InfluxDB came back")
        rows = reader.query('SELECT "value" FROM "vitals"')
        assert sorted(r["time"] for r in rows) == [o.timestamp_ns for o in before + during]  # each once, none lost
        assert [r["value"] for r in sorted(rows, key=lambda r: r["time"])] == [o.value for o in before + during]
        wait_for(lambda: _committed_and_end(isolated)[0] == 500, timeout=60, what="offsets committed after the outage")

        def reported() -> dict | None:  # a writer reports every 10 s, with its next write
            rows = reader.query('SELECT sum("failures") AS f, sum("points") AS n FROM "operations"."sink_writes" '
                                "WHERE \"measurement\" = 'vitals'")
            return rows[0] if rows and rows[0]["f"] >= 1 else None

        stats = wait_for(reported, timeout=60, what="the failed writes in the sink statistics")
        assert stats["n"] >= 100
    finally:
        producer.close()
        worker.stop()
        reader.close()


def test_retention_policies_are_configurable_and_idempotent(influxd: OwnInfluxd) -> None:
    settings = InfluxSettings(url=influxd.url, database="rp_check", retention_clinical="30d", retention_waveforms="6h")
    writer = InfluxWriter(settings)
    writer.ensure_schema()
    writer.ensure_schema()  # again: nothing changes, nothing fails
    assert writer.retention_policies() == {"autogen": "720h0m0s", "waveforms": "6h0m0s", "operations": "336h0m0s"}
    now = time.time_ns()
    writer.write_points([
        {"measurement": "waveforms", "tags": {"patient": "p-0123456789abcdef0123", "signal": "MDC_ECG_LEAD_II"},
         "fields": {"value": 0.5}, "time": now},
        {"measurement": "vitals", "tags": {"patient": "p-0123456789abcdef0123", "signal": "MDC_ECG_HEART_RATE"},
         "fields": {"value": 71.0}, "time": now},
    ])
    assert [r["value"] for r in writer.query('SELECT "value" FROM "waveforms"."waveforms"')] == [0.5]
    assert writer.query('SELECT "value" FROM "waveforms"') == []  # not in the default policy
    assert [r["value"] for r in writer.query('SELECT "value" FROM "vitals"')] == [71.0]
    shorter = InfluxWriter(InfluxSettings(url=influxd.url, database="rp_check", retention_clinical="52w"))
    shorter.ensure_schema()
    assert shorter.retention_policies()["autogen"] == "8736h0m0s"
    off = InfluxWriter(InfluxSettings(url=influxd.url, database="rp_off", manage_retention=False))
    off.ensure_schema()
    assert off.retention_policies() == {"autogen": "0s"}  # left alone: InfluxDB's default, infinite
