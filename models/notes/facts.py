"""Facts of one alarm: every number a note may state, computed by the pipeline, never generated.

:func:`build_facts` turns an :class:`~wardwatch.streams.records.Alert` and the patient's recent
context (:class:`NoteContext`: the latest NEWS2 and trend features, signal quality, the patient's
other alarms and acknowledgements) into a list of :class:`Fact`. Each fact has an id
(``spo2.value``, ``hr.trend_15m``, ``news2.total``, ``alarm.onset_utc``), a value (a number or a
word), a UCUM unit (``""`` for scores and words), the time it holds for and the *subject* it is
about (``spo2``, ``hr``, ``news2``, ... or ``""`` for the alarm itself), which the verifier uses to
tie a number in a note to the signal named before it.

Where the context comes from: the note agent keeps one :class:`NoteContext` per patient, fed by the
``features`` topic (``news2``, ``trends``, ``ecg``/``ppg`` quality) and the ``alerts`` topic; the
offline evaluation feeds it the same records in event time. A fact the context does not hold is
simply absent: the note cannot state it.

Trend words are computed here too: a change over 15 min or 1 h at least :data:`TREND_MIN_CHANGE`
of the signal's unit is ``rising``/``falling``, below it ``stable``.

>>> from wardwatch.streams.records import Alert, Evidence, alert_id
>>> ref, t0 = "p-0123456789abcdef0123", 1_790_000_000_000_000_000
>>> a = Alert(alert_id=alert_id(ref, "spo2.low", t0), patient_ref=ref, ward="ward-a", bed="04",
...     kind="physiological", priority="medium", source="spo2.low", onset_ns=t0, updated_ns=t0, state="active",
...     evidence=Evidence(values={"MDC_PULS_OXIM_SAT_O2": 87.0, "condition_duration_s": 40.0}))
>>> {f.id: f.value for f in build_facts(a, NoteContext())}["spo2.value"]
87.0
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from wardwatch.errors import UnknownSignalError
from wardwatch.streams.records import Alert, Features
from wardwatch.streams.signals import lookup

__all__ = ["Fact", "NoteContext", "build_facts", "facts_to_record", "facts_from_record", "SUBJECTS",
           "TREND_MIN_CHANGE", "utc_hhmm"]

logger = logging.getLogger(__name__)

#: Subject short name -> (words a note uses for it, UCUM unit, MDC signal).
SUBJECTS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "hr": (("heart rate", "hr", "pulse", "pulse rate"), "/min", "MDC_ECG_HEART_RATE"),
    "spo2": (("spo2", "oxygen saturation", "saturation", "sats"), "%", "MDC_PULS_OXIM_SAT_O2"),
    "rr": (("respiratory rate", "rr", "respiration rate", "breathing rate", "resp rate"), "/min", "MDC_RESP_RATE"),
    "sbp": (("systolic bp", "systolic blood pressure", "sbp", "bp", "blood pressure", "systolic"), "mm[Hg]", "MDC_PRESS_BLD_NONINV_SYS"),
    "temp": (("temperature", "temp"), "Cel", "MDC_TEMP_BODY"),
    "news2": (("news2", "news"), "", ""),
    "quality": (("signal quality", "quality", "sqi"), "", ""),
}
_BY_SIGNAL = {mdc: short for short, (_, _, mdc) in SUBJECTS.items() if mdc}
_BY_SIGNAL["MDC_PULS_OXIM_PULS_RATE"] = "hr"
_NEWS2_INPUTS = {"rr_per_min": "rr", "spo2_pct": "spo2", "sbp_mmhg": "sbp", "pulse_per_min": "hr", "temp_c": "temp"}
_NEWS2_PARAMS = {"respiration_rate": "rr", "spo2": "spo2", "systolic_bp": "sbp", "pulse": "hr", "temperature": "temp",
                 "air_or_oxygen": "news2", "consciousness": "news2"}
_BANDS = {0.0: "low", 1.0: "low-medium", 2.0: "medium", 3.0: "high"}
#: Smallest change (in the signal's unit) over a horizon that is called rising or falling.
TREND_MIN_CHANGE: dict[str, float] = {"hr": 5.0, "spo2": 2.0, "rr": 3.0, "sbp": 10.0, "temp": 0.3}
_KEEP = 4  # feature records of each source kept per patient (alerts and features arrive on separate topics)
_KEEP_NOTED = 200


def utc_hhmm(ns: int) -> str:
    """``HH:MM`` (UTC) of an epoch-nanosecond time."""
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%H:%M")


@dataclass(frozen=True)
class Fact:
    """One computed fact. ``value`` is a float (numbers) or a str (words, ``HH:MM`` times)."""

    id: str
    value: float | str
    unit: str = ""
    time_ns: int = 0
    subject: str = ""
    label: str = ""

    @property
    def key(self) -> str:
        """The key in :attr:`AlertNote.facts`: ``id`` or ``id [unit]``."""
        return f"{self.id} [{self.unit}]" if self.unit else self.id


def facts_to_record(facts: list[Fact]) -> dict[str, str | float]:
    """The facts as :attr:`~wardwatch.streams.records.AlertNote.facts` carries them (``{"id [unit]": value}``)."""
    return {f.key: f.value for f in facts}


def facts_from_record(record: dict[str, str | float]) -> list[tuple[str, str, str | float]]:
    """``(id, unit, value)`` of each fact in an AlertNote's ``facts`` (the inverse of :func:`facts_to_record`)."""
    out = []
    for key, value in record.items():
        ident, sep, unit = key.partition(" [")
        out.append((ident, unit[:-1] if sep else "", value))
    return out


class NoteContext:
    """What the note agent knows of one patient besides the alarm: recent features and alarms.

    Plain state (:meth:`to_state` / :meth:`from_state`) for a Faust table.
    """

    def __init__(self) -> None:
        self.features: dict[str, list[tuple[int, dict[str, float]]]] = {}
        self.alarms: dict[str, dict[str, Any]] = {}
        self.noted: list[str] = []

    def observe(self, record: Features | Alert) -> None:
        """Take a Features record (``news2``, ``trends``, ``ecg``, ``ppg``) or an Alert."""
        if isinstance(record, Alert):
            self.alarms[record.alert_id] = {"source": record.source, "priority": record.priority, "state": record.state,
                                            "onset_ns": record.onset_ns, "updated_ns": record.updated_ns}
            if record.state == "resolved":
                del self.alarms[record.alert_id]
            return
        if record.source not in ("news2", "trends", "ecg", "ppg"):
            return
        keep = self.features.setdefault(record.source, [])
        keep.append((record.timestamp_ns, dict(record.values)))
        keep.sort(key=lambda item: item[0])
        del keep[:-_KEEP]

    def latest(self, source: str, at_ns: int) -> tuple[int, dict[str, float]] | None:
        """The newest ``source`` features at or before ``at_ns``."""
        found = [item for item in self.features.get(source, []) if item[0] <= at_ns]
        return found[-1] if found else None

    def first_note(self, alert: Alert) -> bool:
        """Whether ``alert`` (this id at this priority) has had no note yet; marks it noted."""
        key = f"{alert.alert_id}:{alert.priority}"
        if key in self.noted:
            return False
        self.noted = [*self.noted, key][-_KEEP_NOTED:]
        return True

    def to_state(self) -> dict[str, Any]:
        clean = {src: [[ts, {k: v for k, v in vals.items() if math.isfinite(v)}] for ts, vals in items]
                 for src, items in self.features.items()}
        return {"features": clean, "alarms": self.alarms, "noted": self.noted}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "NoteContext":
        ctx = cls()
        ctx.features = {src: [(int(ts), dict(vals)) for ts, vals in items] for src, items in state.get("features", {}).items()}
        ctx.alarms = dict(state.get("alarms", {}))
        ctx.noted = list(state.get("noted", []))
        return ctx


def _unit_of(signal: str) -> str:
    try:
        return lookup(signal).unit
    except UnknownSignalError:
        return ""


def _subject_of(rule_input: str) -> str:
    return _BY_SIGNAL.get(rule_input, "")


def _words(short: str) -> str:
    return SUBJECTS[short][0][0] if short in SUBJECTS else short


def _num(facts: list[Fact], ident: str, value: float | None, unit: str, t: int, subject: str, label: str) -> None:
    if value is not None and math.isfinite(value) and all(f.id != ident for f in facts):
        facts.append(Fact(ident, float(value), unit, t, subject, label))


def _alert_facts(alert: Alert) -> list[Fact]:
    t = alert.updated_ns
    facts = [
        Fact("alarm.rule", alert.source, "", t, "", "rule"),
        Fact("alarm.kind", alert.kind, "", t, "", "kind"),
        Fact("alarm.priority", alert.priority, "", t, "", "priority"),
        Fact("alarm.bed", alert.bed, "", t, "", "bed"),
        Fact("alarm.ward", alert.ward, "", t, "", "ward"),
        Fact("alarm.onset_utc", utc_hhmm(alert.onset_ns), "", alert.onset_ns, "", "since (UTC)"),
    ]
    ev = alert.evidence
    subject = next((_subject_of(k) for k in ev.values if _subject_of(k)), "")
    if alert.source == "news2":
        subject = "news2"
    unit = SUBJECTS[subject][1] if subject in SUBJECTS else ""
    for key, value in ev.values.items():
        if key == "condition_duration_s":
            _num(facts, "alarm.duration", value, "s", t, "", "condition held for")
        elif key == "alarm_duration_s":
            continue
        elif key == "worst":
            _num(facts, f"{subject or 'alarm'}.worst", value, unit, t, subject, f"worst {_words(subject)}")
        elif key.startswith("input."):
            short = _NEWS2_INPUTS.get(key[6:])
            if short:
                _num(facts, f"{short}.median_5m", value, SUBJECTS[short][1], t, short, f"{_words(short)} (5-min median)")
        elif _subject_of(key):
            s = _subject_of(key)
            _num(facts, f"{s}.value", value, _unit_of(key), t, s, _words(s))
        elif key in ("area", "signals_flagged"):
            continue
        else:  # a feature the rule reads (a detector score, a quality index)
            _num(facts, f"alarm.{key}", value, "", t, "", key)
    for key, value in ev.thresholds.items():
        if key.startswith("limit") or key.startswith("min_total"):
            level = key.partition(".")[2] or "alarm"
            _num(facts, f"{subject or 'alarm'}.limit_{level}", value, unit, t, subject, f"{level} limit")
        elif key == "delay_s":
            _num(facts, "alarm.delay", value, "s", t, "", "delay")
    if ev.signal_quality is not None:
        _num(facts, "quality.alarm", ev.signal_quality, "", t, "quality", "signal quality (0-1)")
    return facts


def _news2_facts(facts: list[Fact], values: dict[str, float], t: int) -> None:
    _num(facts, "news2.total", values.get("news2.total"), "", t, "news2", "NEWS2 total")
    band = values.get("news2.band_level")
    if band is not None and band in _BANDS and all(f.id != "news2.band" for f in facts):
        facts.append(Fact("news2.band", _BANDS[band], "", t, "news2", "NEWS2 band"))
    for param, short in _NEWS2_PARAMS.items():
        _num(facts, f"news2.sub.{param}", values.get(f"news2.{param}"), "", t, short, f"NEWS2 {param.replace('_', ' ')} sub-score")
    for name, short in _NEWS2_INPUTS.items():
        _num(facts, f"{short}.median_5m", values.get(f"input.{name}"), SUBJECTS[short][1], t, short, f"{_words(short)} (5-min median)")


def _trend_facts(facts: list[Fact], values: dict[str, float], t: int) -> None:
    for short, (_, unit, _) in SUBJECTS.items():
        if short not in TREND_MIN_CHANGE:
            continue
        _num(facts, f"{short}.level", values.get(f"{short}.level"), unit, t, short, f"{_words(short)} (level)")
        for horizon, label in (("15m", "15 min"), ("1h", "1 h")):
            change = values.get(f"{short}.change_{horizon}")
            if change is None or not math.isfinite(change):
                continue
            _num(facts, f"{short}.change_{horizon}", change, unit, t, short, f"{_words(short)} change over {label}")
            word = "stable" if abs(change) < TREND_MIN_CHANGE[short] else ("rising" if change > 0 else "falling")
            facts.append(Fact(f"{short}.trend_{horizon}", word, "", t, short, f"{_words(short)} trend over {label}"))
            _num(facts, f"window.{horizon}", 900.0 if horizon == "15m" else 3600.0, "s", t, "", f"trend window {label}")


def build_facts(alert: Alert, context: NoteContext) -> list[Fact]:
    """The facts of ``alert``, given the patient's ``context`` as it stood at the alert's time."""
    at = alert.updated_ns
    facts = _alert_facts(alert)
    if alert.source == "news2":
        _news2_facts(facts, dict(alert.evidence.scores) | {k: v for k, v in alert.evidence.values.items()}, at)
    latest = context.latest("news2", at)
    if latest is not None:
        _news2_facts(facts, latest[1], latest[0])
    trends = context.latest("trends", at)
    if trends is not None:
        _trend_facts(facts, trends[1], trends[0])
    for source, key in (("ecg", "ecg.sqi"), ("ppg", "ppg.sqi")):
        q = context.latest(source, at)
        if q is not None:
            _num(facts, f"quality.{source}", q[1].get(key), "", q[0], "quality", f"{source.upper()} signal quality (0-1)")
    others = [a for aid, a in sorted(context.alarms.items()) if aid != alert.alert_id]
    active = [f"{a['source']} ({a['priority']})" for a in others if a["state"] in ("active", "escalated")]
    acked = [a["source"] for a in others if a["state"] == "acknowledged"]
    facts.append(Fact("others.active", ", ".join(active) or "none", "", at, "", "other active alarms"))
    _num(facts, "others.count", float(len(active)), "", at, "", "other active alarms (count)")
    facts.append(Fact("others.acknowledged", ", ".join(acked) or "none", "", at, "", "acknowledged alarms"))
    return facts
