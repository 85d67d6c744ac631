"""The engine end to end on the default ward rules: a scripted desaturation, replay safety,
state round trips, discharge."""

from __future__ import annotations

import json

import msgspec

from wardwatch.alerting import PatientAlarmEngine, load_config

from .helpers import P, ack, ecg_chunk, feat, num, run, series, states, t

SPO2 = "MDC_PULS_OXIM_SAT_O2"
HR = "MDC_ECG_HEART_RATE"


def desaturation() -> list:
    """SpO2 97 % for 60 s, 84 % for 3 min, then 96 %; one sample a second."""
    return series(SPO2, 0, [97.0] * 60 + [84.0] * 180 + [96.0] * 60)


def default_engine() -> PatientAlarmEngine:
    return PatientAlarmEngine(P, "ward-a", "01", load_config())


def test_scripted_desaturation_gives_one_high_alarm_that_resolves() -> None:
    out = run(default_engine(), desaturation())
    assert {a.source for a in out.alerts} == {"spo2.low"}
    assert len({a.alert_id for a in out.alerts}) == 1
    assert states(out) == [
        ("spo2.low", "medium", "active"),     # SatSeconds: 6 %*s per second reaches 50 after 9 s
        ("spo2.low", "high", "active"),       # below 85 % for the 15 s delay
        ("spo2.low", "high", "escalated"),    # unacknowledged 120 s after it became high
        ("spo2.low", "high", "resolved"),     # back to 96 %
    ]
    assert [a.updated_ns for a in out.alerts] == [t(69), t(75), t(195), t(240)]
    assert [(n.reason, n.tier, n.priority) for n in out.notifications] == [
        ("raised", "bedside_nurse", "medium"), ("worsened", "bedside_nurse", "high"), ("escalated", "charge_nurse", "high")]
    resolved = out.alerts[-1]
    assert resolved.evidence.values["worst"] == 84.0 and resolved.evidence.values["alarm_duration_s"] == 171.0
    assert out.alerts[1].message == "SpO2 84 % below 85 % for 15 s (lowest 84 %)"


def test_a_brief_dip_on_the_default_rules_raises_nothing() -> None:
    assert run(default_engine(), series(SPO2, 0, [97.0] * 30 + [87.0] * 12 + [97.0] * 30)).alerts == []


def _mixed_stream() -> list:
    items: list = []
    for k in range(400):
        items.append(num(SPO2, k, 84.0 if 60 <= k < 240 else 97.0))
        if k < 200:  # the heart-rate feed stops at 200 s: a no-data alarm at 260 s
            items.append(num(HR, k, 140.0 if 100 <= k < 170 else 80.0, ("lead_off",) if 20 <= k < 40 else ()))
            items.append(ecg_chunk(k, ("lead_off",) if 20 <= k < 40 else ()))
        if k % 30 == 0:
            items.append(feat(k, {"news2.total": 7.0 if 60 <= k < 240 else 1.0, "news2.any_single_3": 0.0}, source="news2"))
    items.append(("tick", 700))
    return items


def _outputs(out) -> bytes:
    return msgspec.msgpack.encode([out.alerts, out.notifications])


def test_state_round_trip_mid_stream_continues_identically() -> None:
    stream = _mixed_stream()
    whole = run(default_engine(), stream)
    assert {a.source for a in whole.alerts} >= {"spo2.low", "hr.high", "news2", "ecg.lead_off", "nodata.hr"}
    for cut in (75, 400, 900):
        first = default_engine()
        part1 = run(first, stream[:cut])
        blob = msgspec.msgpack.encode(first.to_state())
        json.dumps(first.to_state(), allow_nan=False)  # JSON-safe too (a Faust table's default serializer)
        second = PatientAlarmEngine.from_state(P, msgspec.msgpack.decode(blob), load_config())
        assert run(second, stream[:cut]).alerts == []  # replayed input after a restart: nothing new
        part2 = run(second, stream[cut:])
        assert _outputs(part1.extend(part2)) == _outputs(whole)


def test_acknowledgement_survives_a_restart() -> None:
    stream = desaturation()
    eng = default_engine()
    fired = run(eng, stream[:80]).alerts[-1]
    run(eng, [ack(fired, 80.5)])
    restored = PatientAlarmEngine.from_state(P, msgspec.msgpack.decode(msgspec.msgpack.encode(eng.to_state())), load_config())
    rest = run(restored, stream[80:])
    assert states(rest) == [("spo2.low", "high", "resolved")]
    assert rest.notifications == []


def test_discharge_resolves_open_alarms_and_stops_no_data_alarms() -> None:
    from wardwatch.streams.records import ChartedEvent

    eng = default_engine()
    run(eng, series(SPO2, 0, [84.0] * 30))
    out = run(eng, [ChartedEvent(patient_ref=P, ward="ward-a", bed="01", source="ehr", timestamp_ns=t(31), event="discharge")])
    assert states(out) == [("spo2.low", "high", "resolved")]
    assert run(eng, [("tick", 3600)]).alerts == []


def test_a_bed_override_applies_to_whoever_lies_in_that_bed() -> None:
    from wardwatch.alerting import load_config_text

    text = """
rules:
  - {id: spo2.low, type: threshold, signal: MDC_PULS_OXIM_SAT_O2, op: "<", limit: 90, priority: medium}
overrides:
  - {bed: "07", rules: {spo2.low: {limit: 85}}}
  - {patient_ref: p-ffffffffffffffffffff, rules: {spo2.low: {enabled: false}}}
"""
    cfg = load_config_text(text, "ward.yaml")
    in_bed_01 = run(PatientAlarmEngine(P, "ward-a", "01", cfg), [num(SPO2, 0, 87.0)])
    assert states(in_bed_01) == [("spo2.low", "medium", "active")]
    in_bed_07 = run(PatientAlarmEngine(P, "ward-a", "07", cfg), [num(SPO2, 0, 87.0, bed="07")])
    assert in_bed_07.alerts == []
    assert cfg.rules_for("p-ffffffffffffffffffff", "01") == ()
