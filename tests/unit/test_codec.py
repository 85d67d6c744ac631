from __future__ import annotations

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.errors import SchemaValidationError
from wardwatch.streams.codec import decode, encode, from_json, to_json
from wardwatch.streams.records import (
    MAX_TIMESTAMP_NS,
    MIN_TIMESTAMP_NS,
    Alert,
    AlertNote,
    ChartedEvent,
    Evidence,
    NumericObservation,
    WaveformChunk,
    alert_id,
)
from wardwatch.streams.signals import SIGNALS

refs = st.from_regex(r"\Ap-[0-9a-f]{20}\Z")
idents = st.from_regex(r"\A[A-Za-z0-9._:-]{1,64}\Z")
times = st.integers(MIN_TIMESTAMP_NS, MAX_TIMESTAMP_NS - 20_000_000_000)
numeric_specs = [s for s in SIGNALS.values() if s.kind == "numeric"]
wave_specs = [s for s in SIGNALS.values() if s.kind == "waveform"]


@st.composite
def numerics(draw: st.DrawFn) -> NumericObservation:
    spec = draw(st.sampled_from(numeric_specs))
    return NumericObservation(
        patient_ref=draw(refs), ward=draw(idents), bed=draw(idents), device_id=draw(idents),
        signal=spec.code, unit=spec.unit, timestamp_ns=draw(times),
        value=draw(st.floats(spec.low, spec.high, allow_nan=False)),
        quality=tuple(draw(st.lists(st.sampled_from(["artifact", "questionable", "probe_off"]), max_size=3))),
    )


@st.composite
def waveforms(draw: st.DrawFn) -> WaveformChunk:
    spec = draw(st.sampled_from(wave_specs))
    fs = draw(st.sampled_from([62.5, 125.0, 250.0, 500.0]))
    n = draw(st.integers(1, int(fs)))
    raw = draw(st.lists(st.integers(-32768, 32767), min_size=n, max_size=n))
    return WaveformChunk(
        patient_ref=draw(refs), ward=draw(idents), bed=draw(idents), device_id=draw(idents),
        signal=spec.code, unit=spec.unit, fs_hz=fs, start_ns=draw(times), dtype="int16",
        samples=np.asarray(raw, dtype="<i2").tobytes(), gain=draw(st.floats(1, 1000)), offset=draw(st.floats(-100, 100)),
    )


@st.composite
def events(draw: st.DrawFn) -> ChartedEvent:
    event, value = draw(st.sampled_from([("supplemental_oxygen", "on"), ("consciousness", "V"), ("spo2_scale", "2"), ("transfer", "bed-12")]))
    return ChartedEvent(patient_ref=draw(refs), ward=draw(idents), bed=draw(idents), source=draw(idents),
                        timestamp_ns=draw(times), event=event, value=value)  # type: ignore[arg-type]


@st.composite
def alerts(draw: st.DrawFn) -> Alert:
    ref, source, onset = draw(refs), draw(idents), draw(times)
    values = draw(st.dictionaries(st.sampled_from(["spo2", "hr", "rr"]), st.floats(0, 300, allow_nan=False)))
    return Alert(alert_id=alert_id(ref, source, onset), patient_ref=ref, ward=draw(idents), bed=draw(idents),
                 kind=draw(st.sampled_from(["physiological", "technical"])), priority=draw(st.sampled_from(["high", "medium", "low"])),
                 source=source, onset_ns=onset, updated_ns=onset + draw(st.integers(0, 10**12)),
                 state=draw(st.sampled_from(["active", "acknowledged", "resolved", "escalated"])),
                 message=draw(st.text(max_size=100)), evidence=Evidence(values=values, signal_quality=draw(st.none() | st.floats(0, 1))))


@st.composite
def notes(draw: st.DrawFn) -> AlertNote:
    ref = draw(refs)
    return AlertNote(alert_id=alert_id(ref, "r", draw(times)), patient_ref=ref, text=draw(st.text(min_size=1, max_size=300)),
                     facts=draw(st.dictionaries(st.text(min_size=1, max_size=10), st.floats(-1e6, 1e6, allow_nan=False) | st.text(max_size=20), max_size=5)),
                     verified=draw(st.booleans()), latency_ms=draw(st.floats(0, 1e5)), created_ns=draw(times))


records = numerics() | waveforms() | events() | alerts() | notes()


@settings(max_examples=300, deadline=None)
@given(records)
def test_msgpack_round_trip(record: object) -> None:
    assert decode(encode(record)) == record  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(records)
def test_json_round_trip(record: object) -> None:
    assert from_json(to_json(record)) == record  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(numerics())
def test_decode_as_specific_type(record: NumericObservation) -> None:
    assert decode(encode(record), NumericObservation) == record


def _valid() -> dict[str, object]:
    return dict(type="numeric", patient_ref="p-0123456789abcdef0123", ward="w", bed="1", device_id="d",
                signal="MDC_PULS_OXIM_SAT_O2", unit="%", timestamp_ns=1_790_000_000_000_000_000, value=97.0)


@pytest.mark.parametrize(
    ("mutate", "field", "words"),
    [
        (lambda d: d.update(value="ninety-seven"), "$.value", "Expected `float`, got `str`"),
        (lambda d: d.pop("patient_ref"), "$.patient_ref", "required field is missing"),
        (lambda d: d.update(patient_ref="MRN-12345"), "$.patient_ref", "pseudonymous reference"),
        (lambda d: d.update(value=104.0), "$.value", "plausible range 0-100"),
        (lambda d: d.update(type="bogus"), "$.type", "type must be one of"),
        (lambda d: d.update(unit="percent"), "$.unit", "'%'"),
    ],
)
def test_decode_errors_carry_field_and_reason(mutate, field: str, words: str) -> None:  # type: ignore[no-untyped-def]
    data = _valid()
    mutate(data)
    with pytest.raises(SchemaValidationError) as info:
        decode(msgspec.msgpack.encode(data))
    assert info.value.field == field, info.value
    assert words in info.value.reason, info.value


@pytest.mark.parametrize("garbage", [b"", b"\xc1", b"{\"type\": \"numeric\"}", b"\x93\x01\x02"])
def test_garbage_is_a_whole_message_error(garbage: bytes) -> None:
    with pytest.raises(SchemaValidationError) as info:
        decode(garbage)
    assert info.value.field.startswith("$")
    assert info.value.reason


def test_decode_wrong_record_type() -> None:
    ev = ChartedEvent(patient_ref="p-0123456789abcdef0123", ward="w", bed="1", source="ehr",
                      timestamp_ns=1_790_000_000_000_000_000, event="consciousness", value="A")
    with pytest.raises(SchemaValidationError) as info:
        decode(encode(ev), NumericObservation)
    assert info.value.field == "$.type"
