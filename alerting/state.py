"""The alarm state machine of one patient: one alarm per (patient, rule or rule group).

States (IEC 60601-1-8 vocabulary; the ``Alert`` record carries them)::

    (none) --condition confirmed--> active --unacknowledged past a step--> escalated
    active | escalated --ack--> acknowledged      --condition cleared--> resolved
    active | escalated --condition cleared--> resolved (not latching) / stays (latching, until ack)
    any open state --worse priority--> active again (notified again, escalation restarts)

- **Onset** is the time the alarm fired (the condition confirmed: after its persistence delay);
  the evidence tells how long the condition had held then (``condition_duration_s``). The alert id
  is :func:`wardwatch.streams.records.alert_id` of (patient, rule or group id, onset): a replay
  that confirms the same condition at the same time gives the same id.
- **Latching**: a latching alarm whose condition clears stays active (or escalated) until it is
  acknowledged, and the acknowledgement resolves it.
- **Worsening** (a higher priority while open, also after an acknowledgement) raises the priority,
  makes the alarm active again, re-notifies and restarts escalation. The priority never drops
  while the alarm is open.
- **Acknowledging** names the alert id: it silences that alarm only.

Outputs are :class:`~wardwatch.streams.records.Alert` records, one per state change, and
:class:`~wardwatch.alerting.escalation.NotificationRequest` records. The machine's state is a
plain dict (:meth:`AlarmStateMachine.to_state`).

>>> from wardwatch.alerting.config import EscalationConfig
>>> from wardwatch.alerting.escalation import EscalationPolicy
>>> m = AlarmStateMachine("p-0123456789abcdef0123", "ward-a", "01", EscalationPolicy(EscalationConfig()))
>>> t0 = 1_790_000_000_000_000_000
>>> out = m.update(AlarmCondition(key="spo2.low", kind="physiological", latching=False, rank=1, changed_ns=t0,
...                               began_ns=t0 - 15 * 10**9, message="SpO2 88 %"))
>>> [(a.state, a.priority, a.notified) for a in out.alerts], [n.reason for n in out.notifications]
([('active', 'medium', ('bedside_nurse',))], ['raised'])
>>> [a.state for a in m.advance(t0 + 121 * 10**9).alerts]
['escalated']
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from wardwatch.alerting.config import PRIORITIES
from wardwatch.alerting.escalation import EscalationPolicy, NotificationRequest, Reason
from wardwatch.streams.records import AlarmAck, Alert, Evidence, alert_id

__all__ = ["AlarmCondition", "AlarmOutput", "AlarmStateMachine"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlarmCondition:
    """The condition behind one alarm key now, as the engine sees it (``rank`` -1: absent)."""

    key: str
    kind: str
    latching: bool
    rank: int
    changed_ns: int
    began_ns: int | None
    message: str
    values: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    signal_quality: float | None = None


@dataclass
class AlarmOutput:
    """What one input produced: alert records (state changes) and notification requests."""

    alerts: list[Alert] = field(default_factory=list)
    notifications: list[NotificationRequest] = field(default_factory=list)

    def extend(self, other: "AlarmOutput") -> "AlarmOutput":
        self.alerts += other.alerts
        self.notifications += other.notifications
        return self

    def __bool__(self) -> bool:
        return bool(self.alerts or self.notifications)


@dataclass
class _Alarm:
    key: str
    kind: str
    latching: bool
    rank: int
    onset_ns: int
    updated_ns: int
    state: str
    present: bool
    message: str
    values: dict[str, float]
    thresholds: dict[str, float]
    scores: dict[str, float]
    signal_quality: float | None
    notified: list[str]
    esc_base_ns: int
    escalating: bool = True
    acked_by: str = ""


def _finite(d: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in d.items() if v is not None and not math.isnan(v)}


class AlarmStateMachine:
    """Open alarms of one patient, keyed by rule (or group) id."""

    def __init__(self, patient_ref: str, ward: str, bed: str, policy: EscalationPolicy) -> None:
        self.patient_ref, self.ward, self.bed = patient_ref, ward, bed
        self.policy = policy
        self.alarms: dict[str, _Alarm] = {}

    # -- records -------------------------------------------------------------------------
    def _alert(self, a: _Alarm) -> Alert:
        return Alert(
            alert_id=alert_id(self.patient_ref, a.key, a.onset_ns), patient_ref=self.patient_ref, ward=self.ward,
            bed=self.bed, kind=a.kind, priority=PRIORITIES[a.rank], source=a.key, onset_ns=a.onset_ns,  # type: ignore[arg-type]
            updated_ns=a.updated_ns, state=a.state, message=a.message[:500],  # type: ignore[arg-type]
            evidence=Evidence(values=_finite(a.values), thresholds=_finite(a.thresholds), scores=_finite(a.scores),
                              signal_quality=a.signal_quality),
            notified=tuple(a.notified),
        )

    def open_alerts(self) -> list[Alert]:
        """The alert record of every open alarm, as it stands."""
        return [self._alert(a) for _, a in sorted(self.alarms.items())]

    def _notify(self, a: _Alarm, reason: Reason, at_ns: int) -> AlarmOutput:
        prio = PRIORITIES[a.rank]
        tiers = self.policy.immediate(a.kind, prio, a.notified if reason == "worsened" else [])
        a.notified = a.notified + [t for t in tiers if t not in a.notified]
        a.esc_base_ns, a.escalating = at_ns, True
        alert = self._alert(a)
        logger.info("alarm %s %s: %s %s (%s)", alert.alert_id, reason, a.key, prio, self.patient_ref)
        return AlarmOutput([alert], [NotificationRequest.make(alert, t, reason, at_ns) for t in tiers])

    def _set_evidence(self, a: _Alarm, c: AlarmCondition) -> None:
        a.values = {**c.values, "condition_duration_s": (a.onset_ns - c.began_ns) / 1e9 if c.began_ns is not None else math.nan}
        a.thresholds, a.scores, a.signal_quality = dict(c.thresholds), dict(c.scores), c.signal_quality

    def _resolve(self, a: _Alarm, at_ns: int) -> AlarmOutput:
        a.state, a.updated_ns, a.escalating = "resolved", at_ns, False
        a.values["alarm_duration_s"] = (at_ns - a.onset_ns) / 1e9
        del self.alarms[a.key]
        alert = self._alert(a)
        logger.info("alarm %s resolved: %s", alert.alert_id, a.key)
        return AlarmOutput([alert])

    # -- inputs --------------------------------------------------------------------------
    def update(self, c: AlarmCondition) -> AlarmOutput:
        """Take the current condition of one alarm key; return what changed."""
        a = self.alarms.get(c.key)
        if a is None:
            if c.rank < 0:
                return AlarmOutput()
            a = _Alarm(key=c.key, kind=c.kind, latching=c.latching, rank=c.rank, onset_ns=c.changed_ns,
                       updated_ns=c.changed_ns, state="active", present=True, message=c.message, values={},
                       thresholds={}, scores={}, signal_quality=None, notified=[], esc_base_ns=c.changed_ns)
            self._set_evidence(a, c)
            self.alarms[c.key] = a
            return self._notify(a, "raised", c.changed_ns)
        at = max(c.changed_ns, a.updated_ns)
        if c.rank >= 0:
            a.present = True
            self._set_evidence(a, c)
            if c.rank <= a.rank:
                return AlarmOutput()
            a.rank, a.message, a.state, a.updated_ns = c.rank, c.message, "active", at
            return self._notify(a, "worsened", at)
        if not a.present:
            return AlarmOutput()
        a.present = False
        if a.latching and a.state != "acknowledged":
            logger.info("alarm %s: condition cleared, latched until acknowledged", a.key)
            return AlarmOutput()
        return self._resolve(a, at)

    def acknowledge(self, ack: AlarmAck) -> AlarmOutput:
        """Acknowledge the alarm ``ack.alert_id`` names (no other); unknown or closed ids are ignored."""
        if ack.patient_ref != self.patient_ref:
            return AlarmOutput()
        a = next((a for a in self.alarms.values() if alert_id(self.patient_ref, a.key, a.onset_ns) == ack.alert_id), None)
        if a is None or a.state == "acknowledged":
            logger.debug("ack for %s ignored: not open or already acknowledged", ack.alert_id)
            return AlarmOutput()
        at = max(ack.at_ns, a.updated_ns)
        a.state, a.updated_ns, a.escalating, a.acked_by = "acknowledged", at, False, ack.by_role
        out = AlarmOutput([self._alert(a)])
        if not a.present:  # a latched alarm whose condition has gone: the ack closes it
            out.extend(self._resolve(a, at))
        return out

    def advance(self, now_ns: int) -> AlarmOutput:
        """Fire every escalation step due by ``now_ns`` (event time)."""
        out = AlarmOutput()
        for _, a in sorted(self.alarms.items()):
            if not a.escalating:
                continue
            for tier, due_ns in self.policy.due(a.kind, PRIORITIES[a.rank], base_ns=a.esc_base_ns, notified=a.notified, now_ns=now_ns):
                a.notified.append(tier)
                a.state, a.updated_ns = "escalated", max(due_ns, a.updated_ns)
                alert = self._alert(a)
                logger.info("alarm %s escalated to %s", alert.alert_id, tier)
                out.extend(AlarmOutput([alert], [NotificationRequest.make(alert, tier, "escalated", due_ns)]))
        return out

    def resolve_all(self, at_ns: int) -> AlarmOutput:
        """Close every open alarm (the patient was discharged)."""
        out = AlarmOutput()
        for _, a in sorted(self.alarms.items()):
            out.extend(self._resolve(a, max(at_ns, a.updated_ns)))
        return out

    # -- state ---------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {"alarms": {k: {**asdict(a), "values": _finite(a.values)} for k, a in self.alarms.items()}}

    def load_state(self, state: dict[str, Any]) -> None:
        self.alarms = {k: _Alarm(**{**v, "notified": list(v["notified"])}) for k, v in state["alarms"].items()}
