"""The alarm state machine: latching, acknowledgement scope, escalation per tier, deterministic ids."""

from __future__ import annotations

from wardwatch.alerting import notification_id
from wardwatch.streams.records import alert_id

from .helpers import P, ack, engine, num, run, series, states, t

SPO2 = "MDC_PULS_OXIM_SAT_O2"
HR = "MDC_ECG_HEART_RATE"
RULES = f"""\
  - {{id: spo2.low, type: threshold, signal: {SPO2}, op: "<", limit: 90, priority: high}}
  - {{id: hr.high, type: threshold, signal: {HR}, op: ">", limit: 130, priority: medium}}
  - {{id: hr.low, type: threshold, signal: {HR}, op: "<", limit: 40, priority: low}}
"""
LATCHING = RULES.replace("priority: high}", "priority: high, latching: true}")


def test_non_latching_alarm_resolves_when_the_condition_clears() -> None:
    out = run(engine(RULES), series(SPO2, 0, [85, 85, 95]))
    assert states(out) == [("spo2.low", "high", "active"), ("spo2.low", "high", "resolved")]


def test_latching_alarm_stays_active_until_acknowledged() -> None:
    eng = engine(LATCHING)
    out = run(eng, series(SPO2, 0, [85, 85, 95, 96, 97]))
    assert states(out) == [("spo2.low", "high", "active")]
    assert [a.state for a in eng.open_alerts()] == ["active"]
    closed = run(eng, [ack(out.alerts[0], 10)])
    assert states(closed) == [("spo2.low", "high", "acknowledged"), ("spo2.low", "high", "resolved")]
    assert eng.open_alerts() == []


def test_acknowledged_alarm_resolves_when_its_condition_clears() -> None:
    eng = engine(LATCHING)
    fired = run(eng, series(SPO2, 0, [85, 85])).alerts[0]
    assert states(run(eng, [ack(fired, 2.5)])) == [("spo2.low", "high", "acknowledged")]
    assert states(run(eng, series(SPO2, 3, [86, 95]))) == [("spo2.low", "high", "resolved")]


def test_acknowledging_one_alarm_never_silences_another() -> None:
    eng = engine(RULES)
    out = run(eng, [num(SPO2, 0, 85), num(HR, 0, 140)])
    by_source = {a.source: a for a in out.alerts}
    assert set(by_source) == {"spo2.low", "hr.high"}
    assert states(run(eng, [ack(by_source["spo2.low"], 30)])) == [("spo2.low", "high", "acknowledged")]
    later = run(eng, [("tick", 200)])
    assert states(later) == [("hr.high", "medium", "escalated")]  # the other alarm escalates as usual
    assert [(n.alert_id, n.tier) for n in later.notifications] == [(by_source["hr.high"].alert_id, "charge_nurse")]
    other_patient = ack(by_source["hr.high"], 210).__class__(
        alert_id=by_source["hr.high"].alert_id, patient_ref="p-ffffffffffffffffffff", by_role="x", by_user="y", at_ns=t(210))
    assert run(eng, [other_patient]).alerts == []
    assert run(eng, [ack(by_source["spo2.low"], 220)]).alerts == []  # a repeated ack changes nothing


def test_escalation_ladder_per_tier_and_priority() -> None:
    eng = engine(RULES)
    fired = run(eng, [num(SPO2, 0, 85), num(HR, 0, 30)])  # high and low alarms at 0 s
    assert sorted((n.tier, n.reason, n.priority) for n in fired.notifications) == [
        ("bedside_nurse", "raised", "high"), ("bedside_nurse", "raised", "low")]
    assert run(eng, [("tick", 119)]).notifications == []
    at_120 = run(eng, [("tick", 120)])
    assert [(n.tier, n.reason, n.at_ns) for n in at_120.notifications] == [("charge_nurse", "escalated", t(120))]
    assert states(at_120) == [("spo2.low", "high", "escalated")]
    assert at_120.alerts[0].notified == ("bedside_nurse", "charge_nurse")
    assert run(eng, [("tick", 299)]).notifications == []
    at_300 = run(eng, [("tick", 300)])
    assert [(n.tier, n.at_ns) for n in at_300.notifications] == [("on_call_doctor", t(300))]
    assert run(eng, [("tick", 5000)]).notifications == []  # the low alarm never left the bedside nurse


def test_acknowledgement_stops_escalation() -> None:
    eng = engine(RULES)
    fired = run(eng, [num(SPO2, 0, 85)]).alerts[0]
    run(eng, [("tick", 121)])
    assert states(run(eng, [ack(fired, 130)])) == [("spo2.low", "high", "acknowledged")]
    assert run(eng, [("tick", 1000)]).notifications == []


def test_alert_and_notification_ids_are_deterministic() -> None:
    stream = [num(SPO2, 0, 85), num(HR, 0, 140), ("tick", 400), num(SPO2, 401, 97)]
    a, b = run(engine(RULES), stream), run(engine(RULES), stream)
    assert [x.alert_id for x in a.alerts] == [x.alert_id for x in b.alerts]
    assert [n.notification_id for n in a.notifications] == [n.notification_id for n in b.notifications]
    for alert in a.alerts:
        assert alert.alert_id == alert_id(P, alert.source, alert.onset_ns)
    for n in a.notifications:
        assert n.notification_id == notification_id(n.alert_id, n.reason, n.tier, n.priority)
    assert len({n.notification_id for n in a.notifications}) == len(a.notifications) == 6


def test_alarm_ack_travels_through_the_codec_and_is_validated() -> None:
    import msgspec
    import pytest

    from wardwatch.errors import SchemaValidationError
    from wardwatch.streams.codec import decode, encode
    from wardwatch.streams.records import AlarmAck

    eng = engine(RULES)
    fired = run(eng, [num(SPO2, 0, 85)]).alerts[0]
    wire = encode(ack(fired, 5))
    assert states(run(eng, [decode(wire)])) == [("spo2.low", "high", "acknowledged")]
    bad = msgspec.msgpack.encode({"type": "ack", "alert_id": fired.alert_id, "patient_ref": P, "by_role": "nurse",
                                  "by_user": "Jane Doe", "at_ns": t(5)})  # a name, not a staff pseudonym
    with pytest.raises(SchemaValidationError, match=r"\$.by_user"):
        decode(bad)
    with pytest.raises(SchemaValidationError, match=r"\$.at_ns"):
        AlarmAck(alert_id=fired.alert_id, patient_ref=P, by_role="nurse", by_user="s-1", at_ns=5)
