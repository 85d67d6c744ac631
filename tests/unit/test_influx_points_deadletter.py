from __future__ import annotations

from influxdb.line_protocol import make_lines

from wardwatch.agents.influx import to_point
from wardwatch.streams.deadletter import DeadLetter, dead_letter_headers, parse_dead_letter_headers
from wardwatch.streams.records import NumericObservation

T0 = 1_790_000_000_123_456_789


def test_point_schema_and_line_protocol() -> None:
    obs = NumericObservation(patient_ref="p-0123456789abcdef0123", ward="ward a", bed="01", device_id="mon-1",
                             signal="MDC_PULS_OXIM_SAT_O2", unit="%", timestamp_ns=T0, value=97.0, quality=("artifact", "motion"))
    point = to_point(obs)
    assert point["tags"] == {"ward": "ward a", "bed": "01", "patient": "p-0123456789abcdef0123", "signal": "MDC_PULS_OXIM_SAT_O2"}
    assert point["fields"] == {"value": 97.0, "device": "mon-1", "quality": "artifact,motion"}
    assert point["time"] == T0
    line = make_lines({"points": [point]}).strip()
    assert line.startswith("vitals,bed=01,patient=p-0123456789abcdef0123,signal=MDC_PULS_OXIM_SAT_O2,ward=ward\\ a ")
    assert line.endswith(f" {T0}") and "value=97.0" in line


def test_dead_letter_headers_round_trip() -> None:
    letter = DeadLetter(field="$.value", reason="104 % is outside 0-100", stage="influx-sink",
                        source_topic="wardwatch.vitals.numerics", source_partition=3, source_offset=42, failed_at_ns=T0)
    headers = dead_letter_headers(letter)
    assert all(isinstance(v, bytes) for _, v in headers)
    assert parse_dead_letter_headers(headers) == letter
    assert parse_dead_letter_headers(dict(headers)) == letter
