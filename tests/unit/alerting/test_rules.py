"""Rule behaviour through the engine: persistence, hysteresis, graded levels, SatSeconds, NEWS2,
the verifier gate, technical alarms and no-data alarms."""

from __future__ import annotations

import pytest

from wardwatch.alerting import VerifierRequest

from .helpers import SPO2_RULE, ack, config, ecg_chunk, engine, feat, num, run, series, spo2, states, t

SPO2 = "MDC_PULS_OXIM_SAT_O2"
HR = "MDC_ECG_HEART_RATE"


def dip(before_s: int, dip_s: int, nadir: float, after_s: int = 30, normal: float = 97.0) -> list:
    return series(SPO2, 0, [normal] * before_s + [nadir] * dip_s + [normal] * after_s)


# -- persistence delay ------------------------------------------------------------------------
def test_a_10_s_dip_does_not_alarm_with_a_15_s_delay() -> None:
    assert run(engine(SPO2_RULE), dip(30, 10, 85.0)).alerts == []


def test_a_20_s_dip_alarms_once_and_resolves() -> None:
    out = run(engine(SPO2_RULE), dip(30, 20, 85.0))
    assert states(out) == [("spo2.low", "medium", "active"), ("spo2.low", "medium", "resolved")]
    assert len({a.alert_id for a in out.alerts}) == 1
    fired, resolved = out.alerts
    assert fired.onset_ns == t(45)  # dip began at 30 s; 15 s later it fired
    assert fired.evidence.values["condition_duration_s"] == 15.0
    assert fired.evidence.values[SPO2] == 85.0 and fired.evidence.thresholds["limit.medium"] == 90.0
    assert resolved.updated_ns == t(50)
    assert fired.message == "spo2.low: MDC_PULS_OXIM_SAT_O2 85 % (limit 90) for 15 s"


def test_artefact_flagged_values_never_alarm() -> None:
    records = series(SPO2, 0, [97.0] * 10) + series(SPO2, 10, [70.0] * 60, quality=("motion",))
    assert run(engine(SPO2_RULE), records).alerts == []


# -- hysteresis -------------------------------------------------------------------------------
@pytest.mark.parametrize(("hysteresis", "alarms"), [(0, 2), (2, 1)])
def test_hysteresis_keeps_a_value_wandering_on_the_limit_in_one_alarm(hysteresis: float, alarms: int) -> None:
    rule = f'  - {{id: s, type: threshold, signal: {SPO2}, op: "<", limit: 90, priority: medium, hysteresis: {hysteresis}}}\n'
    out = run(engine(rule), series(SPO2, 0, [95, 89, 91, 89, 91.5]))
    assert len({a.alert_id for a in out.alerts}) == alarms
    assert [a.state for a in out.alerts].count("resolved") == (2 if hysteresis == 0 else 0)
    clear = run(engine(rule), series(SPO2, 0, [95, 89, 91, 89, 92.0]))
    assert states(clear)[-1] == ("s", "medium", "resolved")  # 92 is past the band: ends


def test_hysteresis_also_keeps_the_persistence_timer_running() -> None:
    rule = f'  - {{id: s, type: threshold, signal: {SPO2}, op: "<", limit: 90, priority: medium, delay_s: 15, hysteresis: 2}}\n'
    wobble = series(SPO2, 0, [89.0, 90.5] * 10)
    assert states(run(engine(rule), wobble)) == [("s", "medium", "active")]
    no_band = rule.replace("hysteresis: 2", "hysteresis: 0")
    assert run(engine(no_band), wobble).alerts == []


# -- graded levels ------------------------------------------------------------------------------
GRADED = f"""\
  - id: spo2.low
    type: threshold
    signal: {SPO2}
    op: "<"
    levels: [{{limit: 90, priority: low}}, {{limit: 85, priority: medium}}, {{limit: 80, priority: high}}]
    delay_s: 10
"""


def test_worsening_raises_the_priority_of_the_same_alarm_and_notifies_again() -> None:
    out = run(engine(GRADED), series(SPO2, 0, [97] * 5 + [88] * 15 + [83] * 15 + [78] * 15 + [86] * 10))
    assert states(out) == [("spo2.low", "low", "active"), ("spo2.low", "medium", "active"), ("spo2.low", "high", "active")]
    assert len({a.alert_id for a in out.alerts}) == 1
    assert [a.onset_ns for a in out.alerts] == [t(15)] * 3
    assert [a.updated_ns for a in out.alerts] == [t(15), t(30), t(45)]  # each level after its own 10 s
    assert [(n.reason, n.priority, n.tier) for n in out.notifications] == [
        ("raised", "low", "bedside_nurse"), ("worsened", "medium", "bedside_nurse"), ("worsened", "high", "bedside_nurse")]
    # improving to 86 (low level) neither lowers the priority nor ends the alarm


def test_worsening_after_acknowledgement_re_alarms() -> None:
    eng = engine(GRADED)
    first = run(eng, series(SPO2, 0, [88] * 12))
    alert = first.alerts[0]
    acked = run(eng, [ack(alert, 12.5)])
    assert states(acked) == [("spo2.low", "low", "acknowledged")]
    assert run(eng, series(SPO2, 13, [88] * 10)).alerts == []  # same level: stays acknowledged
    worse = run(eng, series(SPO2, 23, [83] * 11))
    assert states(worse) == [("spo2.low", "medium", "active")]
    assert worse.alerts[0].alert_id == alert.alert_id
    assert [n.reason for n in worse.notifications] == ["worsened"]


# -- SatSeconds ---------------------------------------------------------------------------------
SATSECONDS = f'  - {{id: sat, type: integral, signal: {SPO2}, op: "<", limit: 90, area: 50, priority: medium}}\n'


def test_satseconds_same_nadir_different_durations() -> None:
    # nadir 85: 5 %*s per second below the limit; 50 %*s is reached after 10 s
    short = run(engine(SATSECONDS), dip(10, 9, 85.0))
    assert short.alerts == []
    long = run(engine(SATSECONDS), dip(10, 15, 85.0))
    assert states(long) == [("sat", "medium", "active"), ("sat", "medium", "resolved")]
    fired = long.alerts[0]
    assert fired.onset_ns == t(20) and fired.evidence.values["area"] == pytest.approx(50.0)


def test_satseconds_a_deeper_dip_of_the_same_duration_alarms_and_a_shallow_long_one_waits() -> None:
    assert run(engine(SATSECONDS), dip(10, 9, 80.0)).alerts[0].onset_ns == t(15)  # 10 %*s per second
    shallow = run(engine(SATSECONDS), dip(10, 60, 89.0))
    assert shallow.alerts[0].onset_ns == t(60)  # 1 %*s per second: 50 s


# -- NEWS2 ----------------------------------------------------------------------------------------
NEWS2 = "  - {id: news2, type: news2}\n"


@pytest.mark.parametrize(
    ("values", "priority"),
    [
        ({"news2.total": 3.0, "news2.any_single_3": 1.0}, "low"),
        ({"news2.total": 5.0, "news2.any_single_3": 0.0}, "medium"),
        ({"news2.total": 6.0, "news2.any_single_3": 1.0}, "medium"),
        ({"news2.total": 7.0, "news2.any_single_3": 0.0}, "high"),
        ({"news2.total": 4.0, "news2.any_single_3": 0.0}, None),
    ],
)
def test_news2_bands_map_to_priorities(values: dict[str, float], priority: str | None) -> None:
    out = run(engine(NEWS2), [feat(0, values, source="news2")])
    assert states(out) == ([("news2", priority, "active")] if priority else [])


def test_partial_news2_still_alarms_and_says_partial() -> None:
    values = {"news2.total": 5.0, "news2.any_single_3": 0.0, "news2.missing": 2.0, "news2.respiration_rate": 3.0, "input.rr_per_min": 26.0}
    out = run(engine(NEWS2), [feat(0, values, source="news2", flags=("partial",))])
    alert = out.alerts[0]
    assert alert.priority == "medium" and alert.evidence.scores["partial"] == 1.0
    assert alert.evidence.scores["news2.respiration_rate"] == 3.0 and alert.evidence.values["input.rr_per_min"] == 26.0
    assert "partial: 2 parameter(s) missing" in alert.message


# -- arrhythmia and the verifier gate --------------------------------------------------------------
VT_HOOK = "  - {id: vt, type: arrhythmia, feature: arrhythmia.vt, verifier: {hook: fake, min_probability: 0.5}}\n"
VT_FEATURE = "  - {id: vt, type: arrhythmia, feature: arrhythmia.vt, verifier: {feature: verifier.true_alarm_probability, wait_s: 10}}\n"


def test_verifier_hook_passes_a_likely_true_alarm_and_suppresses_a_likely_false_one() -> None:
    asked: list[VerifierRequest] = []

    def fake(req: VerifierRequest) -> float:
        asked.append(req)
        return 0.9 if req.value >= 0.95 else 0.1

    out = run(engine(VT_HOOK, verifiers={"fake": fake}), [feat(0, {"arrhythmia.vt": 0.99}), feat(1, {"arrhythmia.vt": 0.99})])
    assert states(out) == [("vt", "high", "active")]
    assert out.alerts[0].evidence.scores["verifier.true_alarm_probability"] == 0.9
    assert asked[0].rule_id == "vt" and asked[0].began_ns == t(0)
    assert len(asked) == 1  # decided once per condition
    quiet = run(engine(VT_HOOK, verifiers={"fake": fake}), [feat(k, {"arrhythmia.vt": 0.7}) for k in range(30)])
    assert quiet.alerts == []


def test_without_a_verifier_the_alarm_passes_ungated() -> None:
    out = run(engine(VT_HOOK), [feat(0, {"arrhythmia.vt": 0.7})])  # hook 'fake' not registered
    assert states(out) == [("vt", "high", "active")]
    assert out.alerts[0].evidence.values["verifier.gated"] == 0.0
    no_gate = run(engine("  - {id: vt, type: arrhythmia, feature: arrhythmia.vt}\n"), [feat(0, {"arrhythmia.vt": 0.7})])
    assert states(no_gate) == [("vt", "high", "active")]


def test_verifier_feature_is_awaited_then_the_alarm_passes_ungated() -> None:
    suppressed = run(engine(VT_FEATURE), [feat(0, {"arrhythmia.vt": 1.0}), feat(3, {"verifier.true_alarm_probability": 0.2}, source="verifier"), ("tick", 60)])
    assert suppressed.alerts == []
    passed = run(engine(VT_FEATURE), [feat(0, {"arrhythmia.vt": 1.0}), feat(3, {"verifier.true_alarm_probability": 0.8}, source="verifier")])
    assert passed.alerts[0].onset_ns == t(3)
    waited = run(engine(VT_FEATURE), [feat(0, {"arrhythmia.vt": 1.0}), ("tick", 9), ("tick", 30)])
    assert waited.alerts[0].onset_ns == t(10)  # wait_s after confirmation, whatever the tick cadence


def test_a_later_true_verdict_lifts_a_suppression_but_a_later_false_one_never_silences() -> None:
    lifted = run(engine(VT_FEATURE), [feat(0, {"arrhythmia.vt": 1.0}), feat(1, {"verifier.true_alarm_probability": 0.1}, source="verifier"),
                                      feat(7, {"arrhythmia.vt": 1.0, "verifier.true_alarm_probability": 0.9}, source="verifier")])
    assert states(lifted) == [("vt", "high", "active")]
    assert lifted.alerts[0].onset_ns == t(7)
    assert lifted.alerts[0].evidence.scores["verifier.true_alarm_probability"] == 0.9
    kept = run(engine(VT_FEATURE), [feat(0, {"arrhythmia.vt": 1.0}), feat(1, {"verifier.true_alarm_probability": 0.9}, source="verifier"),
                                    feat(7, {"arrhythmia.vt": 1.0, "verifier.true_alarm_probability": 0.1}, source="verifier")])
    assert states(kept) == [("vt", "high", "active")]
    assert kept.alerts[0].onset_ns == t(1)


def test_arrhythmia_alarms_latch_by_default() -> None:
    eng = engine("  - {id: vt, type: arrhythmia, feature: arrhythmia.vt}\n")
    out = run(eng, [feat(0, {"arrhythmia.vt": 1.0}), feat(5, {"arrhythmia.vt": 0.0})])
    assert states(out) == [("vt", "high", "active")]  # call over, alarm stays until acknowledged
    assert states(run(eng, [ack(out.alerts[0], 20)])) == [("vt", "high", "acknowledged"), ("vt", "high", "resolved")]


# -- technical alarms --------------------------------------------------------------------------------
TECH = f"""\
  - {{id: hr.low, type: threshold, signal: {HR}, op: "<", limit: 45, priority: medium, delay_s: 10}}
  - {{id: ecg.lead_off, type: quality_flag, flags: [lead_off], signals: [MDC_ECG_ELEC_POTL_II, {HR}], delay_s: 10, priority: medium}}
  - {{id: nodata.hr, type: no_data, signal: {HR}, timeout_s: 60, priority: medium}}
  - {{id: battery, type: threshold, kind: technical, feature: device.battery_pct, op: "<", limit: 15, priority: low}}
"""


def test_lead_off_is_a_technical_alarm_and_its_flat_values_raise_no_physiological_one() -> None:
    records = []
    for k in range(40):
        flags = ("lead_off",) if 10 <= k < 35 else ()
        records += [num(HR, k, 0.0 if flags else 72.0, flags), ecg_chunk(k, flags)]
    out = run(engine(TECH), records)
    assert states(out) == [("ecg.lead_off", "medium", "active"), ("ecg.lead_off", "medium", "resolved")]
    assert {a.kind for a in out.alerts} == {"technical"}
    assert out.alerts[0].onset_ns == t(20)
    assert "MDC_ECG_ELEC_POTL_II lead_off" in out.alerts[0].message


def test_no_data_alarm_fires_from_ticks_at_the_due_time_and_clears_when_data_returns() -> None:
    data = series(HR, 0, [72.0] * 30)  # last sample at 29 s
    assert run(engine(TECH), data + [("tick", 88)]).alerts == []
    fine = run(engine(TECH), data + [("tick", k) for k in range(30, 100)])
    coarse = run(engine(TECH), data + [("tick", 500)])
    assert states(fine) == [("nodata.hr", "medium", "active")]
    assert states(coarse) == [("nodata.hr", "medium", "active"), ("nodata.hr", "medium", "escalated")]
    assert fine.alerts[0].onset_ns == coarse.alerts[0].onset_ns == t(89)
    assert coarse.alerts[1].updated_ns == t(89 + 120)  # the step's due time, not the late tick's
    assert fine.alerts[0].kind == "technical"
    eng = engine(TECH)
    run(eng, data + [("tick", 100)])
    back = run(eng, [num(HR, 101, 72.0)])
    assert states(back) == [("nodata.hr", "medium", "resolved")]


def test_battery_low_from_a_feature_is_technical_and_low() -> None:
    out = run(engine(TECH), [feat(0, {"device.battery_pct": 40.0}, source="device"), feat(60, {"device.battery_pct": 12.0}, source="device")])
    assert [(a.source, a.kind, a.priority) for a in out.alerts] == [("battery", "technical", "low")]
