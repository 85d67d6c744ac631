"""The alarm log in the real InfluxDB (the test's own database) and on the real Kafka topic."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

from kafka import KafkaConsumer, KafkaProducer

from wardwatch.alerting.alarmlog import AlarmLog, alert_entry, decode_entry, delivery_entry, encode_entry, query_alarm_log
from wardwatch.alerting.channels import DeliveryResult
from wardwatch.streams.pseudonym import pseudonymize

from ..conftest import TEST_SECRET
from ..unit.alerting_channels.samples import make_alert, make_notification
from .conftest import Isolated

S = 1_000_000_000


def _history(ref: str, bed: str, t0: int) -> list:  # type: ignore[type-arg]
    """One alarm's life: raised, notified by two channels at the same nanosecond, acknowledged, resolved."""
    alert = make_alert(ref=ref, bed=bed, onset_ns=t0)
    n = make_notification(ref=ref, bed=bed, onset_ns=t0, nid=f"n-{bed}")
    return [
        alert_entry(alert, "raised", time_ns=t0),
        delivery_entry(n, DeliveryResult(n.notification_id, "email", "delivered", 1, 0.05), time_ns=t0 + 2 * S),
        delivery_entry(n, DeliveryResult(n.notification_id, "webhook:127.0.0.1:9000", "failed", 3, 1.5, "HTTP 503"), time_ns=t0 + 2 * S),
        alert_entry(alert, "acknowledged", time_ns=t0 + 60 * S, detail="", role="nurse"),
        alert_entry(alert, "resolved", time_ns=t0 + 300 * S, detail="SpO2 back to 94 %"),
    ]


def test_alarm_log_is_written_and_queried_by_patient_bed_and_time(isolated: Isolated) -> None:
    secret = TEST_SECRET.encode()
    ref_a, ref_b = pseudonymize("MRN-A-1", secret), pseudonymize("MRN-B-2", secret)
    t0 = (time.time_ns() // S - 3600) * S  # an hour ago
    log = AlarmLog(isolated.influx)
    assert log.write(_history(ref_a, "07", t0) + _history(ref_b, "08", t0 + 10 * S)) == 10

    everything = query_alarm_log(isolated.influx, start_ns=t0, end_ns=t0 + 3600 * S)
    assert len(everything) == 10  # the two same-nanosecond notifications of each patient both kept
    assert [e.time_ns for e in everything] == sorted(e.time_ns for e in everything)

    a = query_alarm_log(isolated.influx, patient_ref=ref_a, start_ns=t0, end_ns=t0 + 3600 * S)
    assert [e.event for e in a] == ["raised", "notified", "notified", "acknowledged", "resolved"]
    assert {e.patient_ref for e in a} == {ref_a} and {e.bed for e in a} == {"07"}
    notified = {e.channel: e for e in a if e.event == "notified"}
    assert (notified["email"].outcome, notified["email"].attempts, notified["email"].tier) == ("delivered", 1, "bedside_nurse")
    hook = notified["webhook:127.0.0.1:9000"]
    assert (hook.outcome, hook.attempts, hook.detail, hook.latency_ms) == ("failed", 3, "HTTP 503", 1500.0)
    assert a[3].role == "nurse" and a[4].detail == "SpO2 back to 94 %"
    assert a[0].alert_id == make_alert(ref=ref_a, bed="07", onset_ns=t0).alert_id and a[0].priority == "high"

    # time window: only what happened in the first minute of patient A's alarm
    window = query_alarm_log(isolated.influx, patient_ref=ref_a, start_ns=t0 + S, end_ns=t0 + 60 * S)
    assert [e.event for e in window] == ["notified", "notified"]

    by_bed = query_alarm_log(isolated.influx, bed="08", start_ns=t0, end_ns=t0 + 3600 * S)
    assert len(by_bed) == 5 and {e.patient_ref for e in by_bed} == {ref_b}

    # writing the same entries again (a replay) does not duplicate them
    log.write(_history(ref_a, "07", t0))
    assert len(query_alarm_log(isolated.influx, patient_ref=ref_a, start_ns=t0, end_ns=t0 + 3600 * S)) == 5

    assert query_alarm_log(isolated.influx, patient_ref=pseudonymize("nobody", secret), start_ns=t0, end_ns=t0 + 3600 * S) == []


def test_cli_prints_the_alarm_log(isolated: Isolated) -> None:
    ref = pseudonymize("MRN-C-3", TEST_SECRET.encode())
    t0 = (time.time_ns() // S - 600) * S  # ten minutes ago
    AlarmLog(isolated.influx).write(_history(ref, "09", t0)[:4])
    out = subprocess.run([sys.executable, "-m", "wardwatch", "alarms", "log", "--patient", ref, "--since", "1h"],
                         env=isolated.env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 4
    assert all(f"bed 09  {ref}  HIGH" in line for line in lines)
    assert "raised" in lines[0] and "SpO2 84 % below 85 %" in lines[0]
    assert any("bedside_nurse via webhook:127.0.0.1:9000: failed (3 attempt(s), 1500 ms)  " in line and line.endswith("HTTP 503") for line in lines)
    assert "by nurse" in lines[3]
    assert "MRN-C-3" not in out.stdout + out.stderr

    older = subprocess.run([sys.executable, "-m", "wardwatch", "alarms", "log", "--patient", ref, "--since", "5m"],
                           env=isolated.env, capture_output=True, text=True, timeout=60)
    assert older.returncode == 0 and "no alarm-log entries" in older.stdout


def test_alarm_log_topic_carries_entries(isolated: Isolated) -> None:
    topic = isolated.topics["alarm_log"]
    assert topic == f"{isolated.settings.kafka.topic_prefix}.alarm-log"
    n = make_notification(nid=f"n-{uuid.uuid4().hex[:8]}")
    entry = delivery_entry(n, DeliveryResult(n.notification_id, "email", "delivered", 1, 0.02))
    servers = isolated.settings.kafka.bootstrap_servers
    producer = KafkaProducer(bootstrap_servers=servers)
    producer.send(topic, key=entry.patient_ref.encode(), value=encode_entry(entry)).get(timeout=30)
    producer.close()
    consumer = KafkaConsumer(topic, bootstrap_servers=servers, auto_offset_reset="earliest", consumer_timeout_ms=20_000,
                             group_id=f"test-{uuid.uuid4().hex[:8]}")
    try:
        message = next(consumer)  # StopIteration after 20 s without a message
    finally:
        consumer.close()
    assert message.key == entry.patient_ref.encode()
    assert decode_entry(message.value) == entry
