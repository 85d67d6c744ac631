"""The MQTT wearable adapter: conformance, payload details, battery status (no broker: see
tests/integration/test_mqtt_wearable.py for the real Mosquitto)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from wardwatch.errors import SchemaValidationError
from wardwatch.streams.adapters.base import AdapterContext
from wardwatch.streams.adapters.mqtt_wearable import MqttWearableAdapter, parse_timestamp, telemetry_topic
from wardwatch.streams.adapters.registry import get_adapter_class
from wardwatch.streams.pseudonym import pseudonymize
from wardwatch.streams.records import WaveformChunk

from .conformance import CONFORMANCE_SECRET, AdapterConformance, Sample

T_MS = 1_790_000_000_250  # epoch milliseconds
FULL = json.dumps({
    "v": 1, "device_id": "wb-0042", "patient_id": "MRN-000123", "bed": "07", "ts": "2026-09-21T10:15:30.250Z",
    "heart_rate": 72, "spo2": 97, "resp_rate": 16, "skin_temp": {"value": 93.2, "unit": "[degF]"}, "battery": 64,
}).encode()
ACCEL = json.dumps({
    "device_id": "patch-7", "patient_id": "MRN-000456", "ward": "ward-b", "ts": T_MS, "hr_source": "ecg",
    "heart_rate": {"value": 1.5, "unit": "Hz"},
    "accel": {"fs_hz": 25, "unit": "g", "x": [0.0, 0.1, -0.1], "y": [0.02, 0.0, 0.01], "z": [1.0, 0.98, 1.02]},
}).encode()
LOW_BATTERY = json.dumps({"device_id": "wb-9", "patient_id": "MRN-000789", "ts": T_MS, "spo2": 95, "battery": 9.5}).encode()


class TestMqttWearableConformance(AdapterConformance):
    adapter_class = MqttWearableAdapter
    valid_samples = [
        Sample(FULL, [("MDC_PULS_OXIM_PULS_RATE", 72.0, "/min"), ("MDC_PULS_OXIM_SAT_O2", 97.0, "%"), ("MDC_RESP_RATE", 16.0, "/min"),
                      ("MDC_TEMP_SKIN", 34.0, "Cel")], "every numeric, ISO time, skin temperature in degF"),
        Sample(ACCEL, [("MDC_ECG_HEART_RATE", 90.0, "/min"), ("WARDWATCH_ACCEL_X", 0.0, "m/s2"), ("WARDWATCH_ACCEL_Y", 0.02 * 9.80665, "m/s2"),
                       ("WARDWATCH_ACCEL_Z", 9.80665, "m/s2")], "ECG patch, rate in Hz, accelerometer in g, epoch ms"),
        Sample(LOW_BATTERY, [("MDC_PULS_OXIM_SAT_O2", 95.0, "%")], "low battery"),
    ]
    malformed_samples = [
        b"",
        b"not json at all",
        b"[1, 2, 3]",
        b'{"device_id": "wb-1", "ts": 1790000000000, "spo2": 96}',  # no patient
        b'{"device_id": "wb-1", "patient_id": "MRN-000789", "ts": "2026-09-21T10:15:30", "spo2": 96}',  # no UTC offset
        b'{"device_id": "wb-1", "patient_id": "MRN-000789", "ts": 1790000000, "spo2": 96}',  # epoch seconds
        b'{"device_id": "wb-1", "patient_id": "MRN-000789", "ts": 1790000000000, "hart_rate": 60}',  # typo: unknown field
        b'{"device_id": "wb-1", "patient_id": "MRN-000789", "ts": 1790000000000, "spo2": 140}',  # impossible
        b'{"device_id": "wb-1", "patient_id": "MRN-000789", "ts": 1790000000000, "skin_temp": {"value": 33, "unit": "furlong"}}',
        b'{"device_id": "wb-1", "patient_id": "MRN-000789", "ts": 1790000000000, "accel": {"fs_hz": 25, "x": [1], "y": [1, 2], "z": [1]}}',
        b'{"device_id": "wb-1", "patient_id": "MRN-000789", "ts": 1790000000000}',  # nothing measured
        b'{"device_id": "wb 1", "patient_id": "MRN-000789", "ts": 1790000000000, "spo2": 96}',  # bad device id
    ]
    identifiers = ["MRN-000123", "MRN-000456", "MRN-000789"]
    fuzz_separators = (b",", b":", b" ")


def _adapter(low_battery_pct: float = 20.0) -> MqttWearableAdapter:
    return MqttWearableAdapter(AdapterContext(secret=CONFORMANCE_SECRET, ward="ward-x"), low_battery_pct=low_battery_pct)


def test_registered_and_topic() -> None:
    assert get_adapter_class("mqtt-wearable") is MqttWearableAdapter
    assert telemetry_topic("wardwatch") == "wardwatch/wearables/+/telemetry"
    assert telemetry_topic("site-1", "wb-7") == "site-1/wearables/wb-7/telemetry"


def test_fields_map_to_the_records() -> None:
    result = _adapter().parse(FULL)
    pr = result.records[0]
    assert pr.patient_ref == pseudonymize("MRN-000123", CONFORMANCE_SECRET)
    assert (pr.ward, pr.bed, pr.device_id) == ("ward-x", "07", "wb-0042")  # ward from the context when absent
    assert pr.timestamp_ns == 1_789_985_730_250_000_000  # 2026-09-21T10:15:30.250Z
    assert {r.timestamp_ns for r in result.records} == {pr.timestamp_ns}
    assert all(r.quality == () for r in result.records)
    status = result.device_status
    assert status is not None and (status.device_id, status.battery_pct, status.battery_low) == ("wb-0042", 64.0, False)
    assert status.patient_ref == pr.patient_ref


def test_accelerometer_chunks_in_m_per_s2() -> None:
    result = _adapter().parse(ACCEL)
    chunks = [r for r in result.records if isinstance(r, WaveformChunk)]
    assert [c.signal for c in chunks] == ["WARDWATCH_ACCEL_X", "WARDWATCH_ACCEL_Y", "WARDWATCH_ACCEL_Z"]
    assert all(c.fs_hz == 25.0 and c.start_ns == T_MS * 1_000_000 and c.n_samples == 3 for c in chunks)
    np.testing.assert_allclose(chunks[2].values(), np.array([1.0, 0.98, 1.02]) * 9.80665, rtol=1e-6)
    assert chunks[0].bed == "unassigned" and chunks[0].ward == "ward-b"


def test_low_battery_flags_every_record_and_reports_status() -> None:
    result = _adapter().parse(LOW_BATTERY)
    assert result.records[0].quality == ("battery_low",)
    assert result.device_status is not None and result.device_status.battery_low and result.device_status.battery_pct == 9.5
    assert _adapter(low_battery_pct=5).parse(LOW_BATTERY).records[0].quality == ()


def test_device_quality_flags_are_kept() -> None:
    payload = json.dumps({"device_id": "wb-1", "patient_id": "MRN-1", "ts": T_MS, "spo2": 91, "quality": ["motion"], "battery": 5}).encode()
    assert _adapter().parse(payload).records[0].quality == ("motion", "battery_low")


def test_battery_only_message_is_status_without_records() -> None:
    result = _adapter().parse(json.dumps({"device_id": "wb-1", "patient_id": "MRN-1", "ts": T_MS, "battery": 15}).encode())
    assert result.records == [] and result.problems == []
    assert result.device_status is not None and result.device_status.battery_low


def test_partly_bad_message_keeps_the_good_part() -> None:
    payload = json.dumps({"device_id": "wb-1", "patient_id": "MRN-1", "ts": T_MS, "heart_rate": 80, "spo2": 140}).encode()
    result = _adapter().parse(payload)
    assert [r.signal for r in result.records] == ["MDC_PULS_OXIM_PULS_RATE"]
    assert [p.field for p in result.problems] == ["$.spo2"] and "plausible range" in result.problems[0].reason


@pytest.mark.parametrize(("payload", "field"), [
    (b'{"device_id": "wb-1", "patient_id": "MRN-1", "ts": 1790000000000, "hart_rate": 60}', "$.hart_rate"),
    (b'{"device_id": "wb-1", "ts": 1790000000000, "spo2": 96}', "$.patient_id"),
    (b'{"device_id": "wb-1", "patient_id": "MRN-1", "ts": 1790000000000, "spo2": {"value": "x", "unit": "%"}}', "$.spo2.value"),
    (b'{"device_id": "wb-1", "patient_id": "MRN-1", "ts": "yesterday", "spo2": 96}', "$.ts"),
])
def test_errors_name_the_field(payload: bytes, field: str) -> None:
    with pytest.raises(SchemaValidationError) as info:
        _adapter().parse(payload)
    assert info.value.field == field


def test_timestamps() -> None:
    assert parse_timestamp(T_MS, "$.ts") == T_MS * 1_000_000
    assert parse_timestamp("2026-09-21T12:15:30.25+02:00", "$.ts") == 1_789_985_730_250_000_000
    for bad in ("2026-09-21T10:15:30", "0001-01-01T00:00:00+14:00", 1_790_000_000):
        with pytest.raises(SchemaValidationError):
            parse_timestamp(bad, "$.ts")
