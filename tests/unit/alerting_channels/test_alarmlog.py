"""Alarm-log entries: construction, InfluxDB points, Kafka bytes, distinct timestamps, the CLI's parsing."""

from __future__ import annotations

import pytest

from wardwatch.alerting.alarmlog import AlarmLog, AlarmLogEntry, alert_entry, decode_entry, delivery_entry, describe, encode_entry, entry_to_point
from wardwatch.alerting.channels import DeliveryResult
from wardwatch.cli_alarms import parse_duration_s

from .samples import HOSPITAL_ID, PATIENT_REF, make_alert, make_notification

T = 1_767_225_660_000_000_000


def test_state_change_entry_and_point() -> None:
    alert = make_alert()
    entry = alert_entry(alert, "raised")
    assert entry.time_ns == alert.updated_ns and entry.detail == "SpO2 84 % below 85 %"
    point = entry_to_point(entry)
    assert point["measurement"] == "alarm_log"
    assert point["tags"] == {"ward": "ward-a", "bed": "07", "patient": PATIENT_REF, "kind": "physiological", "priority": "high", "event": "raised"}
    assert point["fields"] == {"alert_id": alert.alert_id, "source": "spo2_low", "detail": "SpO2 84 % below 85 %"}
    assert point["time"] == alert.updated_ns


def test_acknowledged_entry_names_a_role() -> None:
    entry = alert_entry(make_alert(), "acknowledged", time_ns=T, detail="", role="nurse")
    assert entry_to_point(entry)["fields"]["role"] == "nurse"
    assert "acknowledged by nurse" in " ".join(describe(entry).split())


def test_delivery_entry() -> None:
    n = make_notification(nid="n-9")
    result = DeliveryResult("n-9", "webhook:127.0.0.1:8443", "delivered", 3, 1.2345)
    entry = delivery_entry(n, result, time_ns=T)
    point = entry_to_point(entry)
    assert point["tags"]["event"] == "notified"
    assert point["fields"] == {"alert_id": n.alert.alert_id, "source": "spo2_low", "tier": "bedside_nurse",
                               "channel": "webhook:127.0.0.1:8443", "outcome": "delivered", "notification_id": "n-9",
                               "attempts": 3, "latency_ms": 1234.5}
    line = describe(entry)
    assert "bedside_nurse via webhook:127.0.0.1:8443: delivered (3 attempt(s), 1234 ms)" in line
    assert HOSPITAL_ID not in line and PATIENT_REF in line


def test_notified_entry_needs_its_delivery_fields() -> None:
    with pytest.raises(ValueError, match="tier, channel and outcome"):
        AlarmLogEntry(time_ns=T, alert_id="a-1", patient_ref=PATIENT_REF, ward="w", bed="1", kind="technical", priority="low", event="notified")


def test_time_must_be_epoch_nanoseconds() -> None:
    with pytest.raises(ValueError, match="nanoseconds"):
        alert_entry(make_alert(), "resolved", time_ns=T // 1_000_000)


def test_kafka_round_trip() -> None:
    entry = delivery_entry(make_notification(), DeliveryResult("n-0001", "email", "failed", 5, 9.0, "SMTP 550"), time_ns=T)
    assert decode_entry(encode_entry(entry)) == entry


def test_entries_of_one_series_at_one_nanosecond_get_distinct_times() -> None:
    log = AlarmLog(writer=None)  # type: ignore[arg-type]  # timestamp_for needs no database
    n = make_notification()
    email = delivery_entry(n, DeliveryResult("n-0001", "email", "delivered", 1, 0.1), time_ns=T)
    hook = delivery_entry(n, DeliveryResult("n-0001", "webhook:h:1", "delivered", 1, 0.1), time_ns=T)
    assert log.timestamp_for(email) == T
    assert log.timestamp_for(hook) == T + 1
    assert log.timestamp_for(email) == T  # the same entry again: same time (a re-write overwrites)
    later = delivery_entry(n, DeliveryResult("n-0002", "email", "delivered", 1, 0.1), time_ns=T + 1)
    assert log.timestamp_for(later) == T + 2  # past the one moved onto T + 1
    other_bed = delivery_entry(make_notification(bed="08"), DeliveryResult("n-3", "email", "delivered", 1, 0.1), time_ns=T)
    assert log.timestamp_for(other_bed) == T  # another series: untouched


def test_parse_duration() -> None:
    assert parse_duration_s("45") == 45.0
    assert parse_duration_s("30s") == 30.0
    assert parse_duration_s("15m") == 900.0
    assert parse_duration_s("1h") == 3600.0
    assert parse_duration_s("2d") == 172_800.0
    assert parse_duration_s("1w") == 604_800.0
    with pytest.raises(ValueError):
        parse_duration_s("1 hour")
