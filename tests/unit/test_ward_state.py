"""The ward page's in-memory state: tiles, alarm ordering and states, notes, trends, strips."""

from __future__ import annotations

import numpy as np
import pytest

from wardwatch.dashboards.ward.state import WardState
from wardwatch.streams.records import Alert, AlertNote, Evidence, Features, NumericObservation, WaveformChunk, alert_id

T0 = 1_790_000_000_000_000_000
S = 10**9
REF = "p-0123456789abcdef0123"
REF2 = "p-fedcba9876543210fedc"


def obs(signal: str, unit: str, value: float, t: int = T0, bed: str = "01", ref: str = REF, ward: str = "ward-a",
        quality: tuple[str, ...] = ()) -> NumericObservation:
    return NumericObservation(patient_ref=ref, ward=ward, bed=bed, device_id="m-1", signal=signal, unit=unit,
                              timestamp_ns=t, value=value, quality=quality)  # type: ignore[arg-type]


def alert(source: str, priority: str, state: str, onset: int = T0, updated: int | None = None, kind: str = "physiological",
          bed: str = "01", ref: str = REF, snippet: WaveformChunk | None = None) -> Alert:
    return Alert(alert_id=alert_id(ref, source, onset), patient_ref=ref, ward="ward-a", bed=bed, kind=kind,  # type: ignore[arg-type]
                 priority=priority, source=source, onset_ns=onset, updated_ns=updated or onset, state=state,  # type: ignore[arg-type]
                 message=f"{source} message", evidence=Evidence(values={"x": 1.0}, snippet=snippet))


def test_tile_has_latest_vitals_news2_band_and_ignores_other_wards() -> None:
    state = WardState("ward-a")
    assert state.apply(obs("MDC_ECG_HEART_RATE", "/min", 80.0, T0 + S)) == "01"
    assert state.apply(obs("MDC_ECG_HEART_RATE", "/min", 70.0, T0)) == "01"  # older: does not replace the newer value
    assert state.apply(obs("MDC_PULS_OXIM_SAT_O2", "%", 95.0, ward="ward-b")) is None
    state.apply(Features(patient_ref=REF, ward="ward-a", bed="01", timestamp_ns=T0, source="news2",
                         values={"news2.total": 6.0, "news2.band_level": 2.0, "news2.missing": 0.0}))
    tile = state.summary("01")
    assert tile["vitals"]["hr"]["value"] == 80.0 and "spo2" not in tile["vitals"]
    assert tile["news2"] == {"total": 6, "band": "medium", "partial": False}
    assert tile["patient_ref"] == REF and tile["alarms"] == []
    assert list(state.beds) == ["01"]


def test_alarms_ordered_unacknowledged_first_then_priority_and_resolved_dropped_from_tile() -> None:
    state = WardState("ward-a")
    low = alert("battery.low", "low", "active", kind="technical")
    high = alert("spo2.low", "high", "active", onset=T0 + S)
    med = alert("rr.high", "medium", "active", onset=T0 + 2 * S)
    for a in (low, high, med):
        state.apply(a)
    assert [a["source"] for a in state.summary("01")["alarms"]] == ["spo2.low", "rr.high", "battery.low"]
    state.apply(alert("spo2.low", "high", "acknowledged", onset=T0 + S, updated=T0 + 5 * S))
    ranked = state.summary("01")["alarms"]
    assert [a["source"] for a in ranked] == ["rr.high", "battery.low", "spo2.low"]  # acknowledged goes last
    assert ranked[-1]["state"] == "acknowledged" and ranked[1]["kind"] == "technical"
    # a late, older "active" does not undo the acknowledgement
    state.apply(alert("spo2.low", "high", "active", onset=T0 + S, updated=T0 + 2 * S))
    assert state.find_alert(high.alert_id).state == "acknowledged"  # type: ignore[union-attr]
    state.apply(alert("rr.high", "medium", "resolved", onset=T0 + 2 * S, updated=T0 + 9 * S))
    assert "rr.high" not in [a["source"] for a in state.summary("01")["alarms"]]
    assert any(a["source"] == "rr.high" and a["state"] == "resolved" for a in state.detail("01")["alerts"])


def test_notes_attach_to_their_alert_and_foreign_notes_are_ignored() -> None:
    state = WardState("ward-a")
    a = alert("spo2.low", "high", "active")
    state.apply(a)
    note = AlertNote(alert_id=a.alert_id, patient_ref=REF, text="SpO2 84 % for 30 s.", created_ns=T0 + S, verified=True)
    assert state.apply(note) == "01"
    assert state.apply(note) == "01"  # the same note twice is kept once
    other = AlertNote(alert_id="a-" + "0" * 24, patient_ref=REF, text="unknown alert", created_ns=T0)
    assert state.apply(other) is None
    detail = state.detail("01")
    assert [n["text"] for n in detail["alerts"][0]["notes"]] == ["SpO2 84 % for 30 s."]
    assert detail["alerts"][0]["notes"][0]["verified"] is True
    assert state.summary("01")["alarms"][0]["notes"] == 1


def test_new_patient_in_a_bed_starts_afresh() -> None:
    state = WardState("ward-a")
    state.apply(obs("MDC_ECG_HEART_RATE", "/min", 80.0))
    state.apply(alert("spo2.low", "high", "active"))
    state.apply(obs("MDC_ECG_HEART_RATE", "/min", 66.0, T0 + S, ref=REF2))
    tile = state.summary("01")
    assert tile["patient_ref"] == REF2 and tile["alarms"] == [] and tile["vitals"]["hr"]["value"] == 66.0


def test_trends_keep_the_history_window_and_the_strip_the_last_seconds() -> None:
    state = WardState("ward-a", history_s=60)
    for k in range(120):
        state.apply(obs("MDC_PULS_OXIM_SAT_O2", "%", 90.0 + k % 5, T0 + k * S))
    for k in range(10):
        chunk = WaveformChunk.from_array(np.sin(np.arange(250) / 10.0) + k, gain=1000.0, patient_ref=REF, ward="ward-a", bed="01",
                                         device_id="m-1", signal="MDC_ECG_ELEC_POTL_II", unit="mV", fs_hz=250.0,
                                         start_ns=T0 + k * S)
        state.apply(chunk)
    detail = state.detail("01")
    times = [t for t, _ in detail["trends"]["spo2"]]
    assert times[-1] == T0 + 119 * S and times[0] >= T0 + 59 * S and len(times) == 61
    strip = detail["strip"]
    assert strip["signal"] == "MDC_ECG_ELEC_POTL_II" and strip["unit"] == "mV"
    seconds = len(strip["values"]) / strip["fs_hz"]
    assert 6.0 <= seconds <= 8.0  # about the last 6 s, whole chunks
    assert strip["values"][-1] == pytest.approx(np.sin(249 / 10.0) + 9, abs=1e-3)  # the newest sample last


def test_alert_snippet_is_shown_with_the_alert() -> None:
    snippet = WaveformChunk.from_array(np.zeros(125), patient_ref=REF, ward="ward-a", bed="01", device_id="m-1",
                                       signal="MDC_PULS_OXIM_PLETH", unit="1", fs_hz=125.0, start_ns=T0)
    state = WardState("ward-a")
    state.apply(alert("spo2.low", "high", "active", snippet=snippet))
    shown = state.detail("01")["alerts"][0]
    assert shown["snippet"]["signal"] == "MDC_PULS_OXIM_PLETH" and len(shown["snippet"]["values"]) == 125
    assert shown["evidence"]["values"] == {"x": 1.0}


def test_quality_flags_of_numerics_and_waveforms_show_while_fresh() -> None:
    state = WardState("ward-a")
    state.apply(obs("MDC_PULS_OXIM_SAT_O2", "%", 97.0, T0, quality=("battery_low",)))
    flat = WaveformChunk.from_array(np.zeros(250), gain=1000.0, patient_ref=REF, ward="ward-a", bed="01", device_id="m-1",
                                    signal="MDC_ECG_ELEC_POTL_II", unit="mV", fs_hz=250.0, start_ns=T0, quality=("lead_off",))
    state.apply(flat)
    assert state.summary("01")["flags"] == ["battery_low", "lead_off"]
    state.apply(obs("MDC_RESP_RATE", "/min", 14.0, T0 + 30 * S))  # 30 s later, nothing flagged any more
    assert state.summary("01")["flags"] == []


def test_detail_lists_open_alarms_before_resolved_ones() -> None:
    state = WardState("ward-a")
    state.apply(alert("rr.high", "medium", "resolved", onset=T0 + 5 * S, updated=T0 + 9 * S))
    state.apply(alert("spo2.low", "high", "active", onset=T0))
    assert [a["state"] for a in state.detail("01")["alerts"]] == ["active", "resolved"]
