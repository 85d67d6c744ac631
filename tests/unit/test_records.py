from __future__ import annotations

import numpy as np
import pytest

from wardwatch.errors import SchemaValidationError
from wardwatch.streams.records import (
    Alert,
    AlertNote,
    ChartedEvent,
    Evidence,
    NumericObservation,
    WaveformChunk,
    alert_id,
)

T0 = 1_790_000_000_000_000_000
REF = "p-0123456789abcdef0123"


def numeric(**over: object) -> NumericObservation:
    fields: dict[str, object] = dict(
        patient_ref=REF, ward="ward-a", bed="01", device_id="mon-1",
        signal="MDC_ECG_HEART_RATE", unit="/min", timestamp_ns=T0, value=72.0,
    )
    fields.update(over)
    return NumericObservation(**fields)  # type: ignore[arg-type]


def test_valid_numeric_keeps_its_values() -> None:
    obs = numeric(quality=("artifact",))
    assert (obs.value, obs.signal, obs.unit, obs.quality) == (72.0, "MDC_ECG_HEART_RATE", "/min", ("artifact",))


@pytest.mark.parametrize(
    ("over", "field", "words"),
    [
        ({"signal": "MDC_NOT_A_SIGNAL"}, "$.signal", "unknown signal code"),
        ({"signal": "8867-4"}, "$.signal", "MDC reference id"),
        ({"signal": "MDC_ECG_ELEC_POTL_II", "unit": "mV"}, "$.signal", "waveform signal"),
        ({"unit": "bpm"}, "$.unit", "'/min'"),
        ({"value": float("nan")}, "$.value", "finite"),
        ({"value": 400.0}, "$.value", "plausible range 0-350"),
        ({"value": -1.0}, "$.value", "plausible range"),
        ({"timestamp_ns": 1_790_000_000}, "$.timestamp_ns", "seconds or milliseconds"),
        ({"signal": "MDC_TEMP_BODY", "unit": "Cel", "value": 98.6}, "$.value", "25-45 Cel"),
    ],
)
def test_invalid_numeric_names_field_and_reason(over: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(SchemaValidationError) as info:
        numeric(**over)
    assert info.value.field == field
    assert words in info.value.reason


def test_zero_heart_rate_is_plausible() -> None:
    assert numeric(value=0.0).value == 0.0  # asystole is a value, not bad input


def test_waveform_int16_round_trip_within_one_quantum() -> None:
    t = np.arange(250) / 250.0
    mv = (1.2 * np.sin(2 * np.pi * 1.2 * t)).astype(np.float32)
    chunk = WaveformChunk.from_array(
        mv, gain=200.0, patient_ref=REF, ward="w", bed="1", device_id="d", signal="MDC_ECG_ELEC_POTL_II",
        unit="mV", fs_hz=250.0, start_ns=T0,
    )
    assert chunk.dtype == "int16" and chunk.n_samples == 250 and len(chunk.samples) == 500
    assert np.max(np.abs(chunk.values() - mv)) <= 0.5 / 200.0 + 1e-6
    assert chunk.end_ns == T0 + 1_000_000_000


def test_waveform_float32_and_bad_chunks() -> None:
    base = dict(patient_ref=REF, ward="w", bed="1", device_id="d", signal="MDC_PULS_OXIM_PLETH", unit="1", fs_hz=125.0, start_ns=T0)
    chunk = WaveformChunk.from_array(np.linspace(0, 1, 125), **base)
    assert chunk.dtype == "float32" and np.allclose(chunk.values(), np.linspace(0, 1, 125))
    with pytest.raises(SchemaValidationError) as info:
        WaveformChunk(dtype="int16", samples=b"\x00\x01\x02", **base)  # type: ignore[arg-type]
    assert info.value.field == "$.samples"
    with pytest.raises(SchemaValidationError) as info:
        WaveformChunk.from_array(np.array([1000.0]), gain=100.0, **base)
    assert "overflow" in info.value.reason
    with pytest.raises(SchemaValidationError) as info:
        WaveformChunk(dtype="int16", samples=b"\x00\x00" * 10, gain=0.0, **base)  # type: ignore[arg-type]
    assert info.value.field == "$.gain"


def test_charted_event_values_are_checked() -> None:
    ev = ChartedEvent(patient_ref=REF, ward="w", bed="1", source="ehr", timestamp_ns=T0, event="consciousness", value="C")
    assert ev.value == "C"
    with pytest.raises(SchemaValidationError) as info:
        ChartedEvent(patient_ref=REF, ward="w", bed="1", source="ehr", timestamp_ns=T0, event="supplemental_oxygen", value="yes")
    assert info.value.field == "$.value" and "'off'" in info.value.reason


def test_alert_id_is_deterministic_and_enforced() -> None:
    a = alert_id(REF, "spo2-low", T0)
    assert a == alert_id(REF, "spo2-low", T0)
    assert a != alert_id(REF, "spo2-low", T0 + 1) and a != alert_id(REF, "hr-high", T0)
    alert = Alert(alert_id=a, patient_ref=REF, ward="w", bed="1", kind="physiological", priority="high",
                  source="spo2-low", onset_ns=T0, updated_ns=T0, state="active",
                  evidence=Evidence(values={"spo2": 84.0}, thresholds={"spo2": 88.0}))
    assert alert.evidence.values["spo2"] == 84.0
    with pytest.raises(SchemaValidationError) as info:
        Alert(alert_id="a-" + "0" * 24, patient_ref=REF, ward="w", bed="1", kind="physiological", priority="high",
              source="spo2-low", onset_ns=T0, updated_ns=T0, state="active")
    assert info.value.field == "$.alert_id"


def test_alert_note_requires_text() -> None:
    note = AlertNote(alert_id=alert_id(REF, "x", T0), patient_ref=REF, text="SpO2 84 % for 2 min", created_ns=T0)
    assert note.backend == "template" and note.verified is False
