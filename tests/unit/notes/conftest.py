"""Shared facts for the note tests: one high-priority desaturation on bed 07."""

from __future__ import annotations

import pytest

from wardwatch.models.notes.facts import NoteContext, build_facts
from wardwatch.models.notes.facts import Fact
from wardwatch.streams.records import Alert, Evidence, Features, alert_id

REF = "p-0123456789abcdef0123"
T0 = 1_790_000_000_000_000_000


@pytest.fixture
def alert() -> Alert:
    return Alert(alert_id=alert_id(REF, "spo2.low", T0), patient_ref=REF, ward="ward-a", bed="07", kind="physiological",
                 priority="high", source="spo2.low", onset_ns=T0, updated_ns=T0, state="active",
                 message="SpO2 84 % below 85 % for 20 s",
                 evidence=Evidence(values={"MDC_PULS_OXIM_SAT_O2": 84.0, "worst": 82.0, "condition_duration_s": 20.0},
                                   thresholds={"limit.medium": 90.0, "limit.high": 85.0, "delay_s": 15.0}))


@pytest.fixture
def facts(alert: Alert) -> list[Fact]:
    ctx = NoteContext()
    ctx.observe(Features(patient_ref=REF, ward="ward-a", bed="07", timestamp_ns=T0 - 10**9, source="news2",
                         values={"news2.total": 6.0, "news2.band_level": 2.0, "news2.spo2": 3.0, "news2.pulse": 1.0,
                                 "input.spo2_pct": 86.0, "input.pulse_per_min": 98.0}))
    ctx.observe(Features(patient_ref=REF, ward="ward-a", bed="07", timestamp_ns=T0 - 10**9, source="trends",
                         values={"spo2.level": 85.0, "spo2.change_15m": -6.2, "spo2.change_1h": -7.0, "hr.level": 98.0,
                                 "hr.change_15m": 2.0, "hr.change_1h": 12.0}))
    other = Alert(alert_id=alert_id(REF, "news2", T0 - 5 * 10**9), patient_ref=REF, ward="ward-a", bed="07",
                  kind="physiological", priority="medium", source="news2", onset_ns=T0 - 5 * 10**9, updated_ns=T0 - 5 * 10**9,
                  state="active")
    ctx.observe(other)
    return build_facts(alert, ctx)
