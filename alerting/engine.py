"""The alarm engine of one patient: records and ticks in event time, alerts and notifications out.

:class:`PatientAlarmEngine` holds one evaluator per configured rule (:mod:`.rules`), combines the
rules of a group into one alarm (the highest priority of its members; it ends when all have
cleared), and drives the alarm state machine (:mod:`.state`) and escalation (:mod:`.escalation`).
It is pure: no clock, no I/O. Event time advances with every record (the newest timestamp seen)
and with :meth:`~PatientAlarmEngine.tick`, which the caller sends when no record comes (a no-data
alarm or an escalation falls due in silence).

Replay-safe: a record at or before the last timestamp processed for its input (numerics and
waveforms per signal, features per source, charted events per kind) is ignored, as is a tick at or
before the current event time and an acknowledgement already applied; outputs carry deterministic
ids, so a restarted worker that replays produces nothing new. The whole state is a plain dict
(:meth:`~PatientAlarmEngine.to_state`), to keep in a Faust table.

>>> from wardwatch.alerting.config import load_config
>>> from wardwatch.streams.records import NumericObservation
>>> engine = PatientAlarmEngine("p-0123456789abcdef0123", "ward-a", "01", load_config())
>>> t0, out = 1_790_000_000_000_000_000, []
>>> for k in range(60):
...     out += engine.process(NumericObservation(patient_ref="p-0123456789abcdef0123", ward="ward-a",
...         bed="01", device_id="m", signal="MDC_PULS_OXIM_SAT_O2", unit="%", timestamp_ns=t0 + k * 10**9,
...         value=97.0 if k < 10 else 84.0)).alerts
>>> [(a.source, a.priority, a.state) for a in out]
[('spo2.low', 'medium', 'active'), ('spo2.low', 'high', 'active')]
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from wardwatch.alerting.config import AlarmConfig
from wardwatch.alerting.escalation import EscalationPolicy
from wardwatch.alerting.rules import Evaluator, RuleStatus, Verifier, make_evaluator
from wardwatch.alerting.state import AlarmCondition, AlarmOutput, AlarmStateMachine
from wardwatch.errors import SchemaValidationError
from wardwatch.streams.records import AlarmAck, ChartedEvent, Features, NumericObservation, WaveformChunk

__all__ = ["PatientAlarmEngine"]

logger = logging.getLogger(__name__)

_STATE_VERSION = 1


def _input_key(record: Any) -> tuple[str, int] | None:
    if isinstance(record, NumericObservation):
        return f"n:{record.signal}", record.timestamp_ns
    if isinstance(record, WaveformChunk):
        return f"w:{record.signal}", record.start_ns
    if isinstance(record, Features):
        return f"f:{record.source}", record.timestamp_ns
    if isinstance(record, ChartedEvent):
        return f"e:{record.event}", record.timestamp_ns
    return None


class PatientAlarmEngine:
    """Alarms of one patient.

    Parameters
    ----------
    patient_ref, ward, bed : str
        The pseudonymous patient reference and where the patient lies (overrides by bed follow it).
    config : AlarmConfig
        The ward's rules and escalation ladders.
    verifiers : mapping of str to callable, optional
        Alarm-verifier hooks by name, for arrhythmia rules whose gate names a ``hook``.
    """

    def __init__(self, patient_ref: str, ward: str, bed: str, config: AlarmConfig,
                 verifiers: Mapping[str, Verifier] | None = None) -> None:
        self.patient_ref, self.ward, self.bed = patient_ref, ward, bed
        self.config = config
        self.verifiers = dict(verifiers or {})
        self.machine = AlarmStateMachine(patient_ref, ward, bed, EscalationPolicy(config.escalation))
        self.evaluators: dict[str, Evaluator] = {}
        self.now_ns = 0
        self._last: dict[str, int] = {}
        self._quality: dict[str, float] = {}
        self._bind()

    def _bind(self) -> None:
        """(Re)build the evaluators for the rules of this patient and bed, keeping known rules' state."""
        rules = self.config.rules_for(self.patient_ref, self.bed)
        old = self.evaluators
        self.evaluators = {}
        for rule in rules:
            ev = old.get(rule.id)
            if ev is not None and type(ev.rule) is type(rule):
                ev.rule = rule
            else:
                ev = make_evaluator(rule, self.patient_ref, self.verifiers)
            self.evaluators[rule.id] = ev
        self._groups: dict[str, list[Evaluator]] = {}
        for ev in self.evaluators.values():
            self._groups.setdefault(ev.rule.group or ev.rule.id, []).append(ev)
        self._quality_names = {ev.rule.quality_feature for ev in self.evaluators.values() if ev.rule.quality_feature}

    # -- inputs --------------------------------------------------------------------------
    def process(self, record: Any) -> AlarmOutput:
        """Take one record of this patient (numerics, waveform chunks, features, charted events, acks)."""
        if isinstance(record, AlarmAck):
            return self.acknowledge(record)
        if getattr(record, "patient_ref", self.patient_ref) != self.patient_ref:
            raise SchemaValidationError("$.patient_ref", "record of another patient given to this patient's alarm engine")
        key = _input_key(record)
        if key is None:
            return AlarmOutput()  # alerts and notes are outputs, not inputs
        name, ts = key
        if ts <= self._last.get(name, -1):
            return AlarmOutput()  # seen already (a replay after restart) or out of order
        self._last[name] = ts
        if (record.ward, record.bed) != (self.ward, self.bed):
            self.ward = self.machine.ward = record.ward
            self.bed = self.machine.bed = record.bed
            self._bind()
        if isinstance(record, ChartedEvent):
            return self._charted(record)
        if isinstance(record, Features):
            self._quality.update({k: v for k, v in record.values.items() if k in self._quality_names and not math.isnan(v)})
        touched = {ev.rule.group or ev.rule.id for ev in self.evaluators.values() if ev.observe(record)}
        return self._advance(max(self.now_ns, ts), touched)

    def tick(self, now_ns: int) -> AlarmOutput:
        """Event time has reached ``now_ns`` with no record: fire due no-data alarms and escalations."""
        if now_ns <= self.now_ns:
            return AlarmOutput()
        return self._advance(now_ns)

    def acknowledge(self, ack: AlarmAck) -> AlarmOutput:
        """Apply an acknowledgement (it names one alert id; it silences that alarm only)."""
        return self.machine.acknowledge(ack)

    def _charted(self, event: ChartedEvent) -> AlarmOutput:
        if event.event != "discharge":
            return AlarmOutput()
        logger.info("patient %s discharged: every open alarm resolved, rules reset", self.patient_ref)
        for ev in self.evaluators.values():
            ev.reset(event.timestamp_ns)
        self.now_ns = max(self.now_ns, event.timestamp_ns)
        return self.machine.resolve_all(event.timestamp_ns)

    # -- evaluation ----------------------------------------------------------------------
    def _advance(self, now_ns: int, touched: set[str] | None = None) -> AlarmOutput:
        """Move event time to ``now_ns``; update the alarms whose rules read the input or changed."""
        self.now_ns = now_ns
        touched = set() if touched is None else touched
        touched.update(ev.rule.group or ev.rule.id for ev in self.evaluators.values() if ev.advance(now_ns))
        out = AlarmOutput()
        for key in sorted(touched):
            members = self._groups[key]
            if key in self.machine.alarms or any(ev.rank >= 0 for ev in members):  # else: nothing to say
                out.extend(self.machine.update(self._condition(key, members)))
        return out.extend(self.machine.advance(now_ns))

    def _condition(self, key: str, members: list[Evaluator]) -> AlarmCondition:
        statuses: list[tuple[RuleStatus, Evaluator]] = [(ev.status(), ev) for ev in members]
        active = [(s, ev) for s, ev in statuses if s.rank >= 0]
        if active:  # the highest priority; among equals, the one confirmed first
            st, ev = min(active, key=lambda p: (-p[0].rank, p[0].changed_ns))
            changed = st.changed_ns
        else:
            st, ev = statuses[0]
            changed = max(s.changed_ns for s, _ in statuses)
        rule = ev.rule
        try:
            message = rule.message.format(**st.fields)
        except (ValueError, KeyError) as exc:  # validated at load; a bad value must not stop alarms
            message = f"{rule.id}: {st.fields.get('input')} (message template failed: {exc})"
        values = dict(st.values)
        for s, other in statuses:  # every member's current value, so a group's evidence shows all
            if other is not ev:
                values.update({k: v for k, v in s.values.items() if k not in values})
        sq = self._quality.get(rule.quality_feature or "", math.nan)
        return AlarmCondition(
            key=key, kind=rule.kind, latching=any(e.rule.latching for e in members), rank=st.rank,
            changed_ns=changed, began_ns=min((s.began_ns for s, _ in active if s.began_ns is not None), default=None),
            message=message, values=values, thresholds=dict(st.thresholds), scores=dict(st.scores),
            signal_quality=None if math.isnan(sq) else sq,
        )

    # -- state ---------------------------------------------------------------------------
    def open_alerts(self) -> list[Any]:
        """The alert record of every open alarm of this patient."""
        return self.machine.open_alerts()

    def to_state(self) -> dict[str, Any]:
        """The whole state as plain dicts, lists, strings and numbers (msgpack- and JSON-safe)."""
        return {
            "version": _STATE_VERSION, "ward": self.ward, "bed": self.bed, "now_ns": self.now_ns,
            "last": dict(self._last), "quality": dict(self._quality),
            "evaluators": {rid: ev.to_state() for rid, ev in self.evaluators.items()},
            "machine": self.machine.to_state(),
        }

    @classmethod
    def from_state(cls, patient_ref: str, state: Mapping[str, Any], config: AlarmConfig,
                   verifiers: Mapping[str, Verifier] | None = None) -> "PatientAlarmEngine":
        """Rebuild an engine from :meth:`to_state` (rules come from ``config``; a rule added since starts fresh)."""
        if state.get("version") != _STATE_VERSION:
            raise SchemaValidationError("$.version", f"{state.get('version')!r} is not alarm-engine state version {_STATE_VERSION}")
        engine = cls(patient_ref, state["ward"], state["bed"], config, verifiers)
        engine.now_ns = int(state["now_ns"])
        engine._last = {k: int(v) for k, v in state["last"].items()}
        engine._quality = {k: float(v) for k, v in state["quality"].items()}
        for rid, ev_state in state["evaluators"].items():
            if rid in engine.evaluators:
                engine.evaluators[rid].load_state(ev_state)
        engine.machine.load_state(state["machine"])
        return engine
