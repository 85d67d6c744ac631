"""Escalation: who is told about an alarm, when, and the notification requests that say so.

Ladders come from :class:`~wardwatch.alerting.config.EscalationConfig`, per alarm kind and
priority. The default: the bedside nurse at once, the charge nurse after 120 s unacknowledged, the
on-call doctor after 300 s, for high and medium physiological alarms; low alarms stay with the
bedside nurse; technical alarms go no further than the charge nurse. An acknowledgement stops the
ladder. Timers are event time: a step is due at ``base + after_s`` where ``base`` is the time the
alarm fired (or last worsened), and the notification carries that due time, however late the tick
that noticed it, so a replay gives the same requests.

Every request has a deterministic id (:func:`notification_id`): a restarted worker that replays
its input produces the same ids, and the caller drops ids it has already sent.

>>> from wardwatch.alerting.config import EscalationConfig
>>> policy = EscalationPolicy(EscalationConfig())
>>> policy.immediate("physiological", "high", [])
['bedside_nurse']
>>> s = 1_000_000_000
>>> policy.due("physiological", "high", base_ns=0, notified=["bedside_nurse"], now_ns=301 * s)
[('charge_nurse', 120000000000), ('on_call_doctor', 300000000000)]
>>> policy.due("physiological", "low", base_ns=0, notified=["bedside_nurse"], now_ns=10_000 * s)
[]
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Literal

import msgspec

from wardwatch.alerting.config import EscalationConfig
from wardwatch.streams.records import Alert

__all__ = ["NotificationRequest", "notification_id", "EscalationPolicy", "Reason"]

logger = logging.getLogger(__name__)

Reason = Literal["raised", "worsened", "escalated"]


def notification_id(alert_id: str, reason: str, tier: str, priority: str) -> str:
    """Deterministic id of one notification: same alert, reason, tier and priority, same id."""
    digest = hashlib.sha256(f"{alert_id}|{reason}|{tier}|{priority}".encode()).hexdigest()
    return f"n-{digest[:24]}"


class NotificationRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A request to tell one tier about one alert. ``alert`` is the alert as it is after the change
    that caused the request; ``at_ns`` is event time. Channels deliver it and dedup by ``notification_id``."""

    notification_id: str
    alert_id: str
    patient_ref: str
    tier: str
    reason: Reason
    priority: Literal["high", "medium", "low"]
    at_ns: int
    alert: Alert

    @classmethod
    def make(cls, alert: Alert, tier: str, reason: Reason, at_ns: int) -> "NotificationRequest":
        return cls(
            notification_id=notification_id(alert.alert_id, reason, tier, alert.priority),
            alert_id=alert.alert_id, patient_ref=alert.patient_ref, tier=tier, reason=reason,
            priority=alert.priority, at_ns=at_ns, alert=alert,
        )


class EscalationPolicy:
    """The ladders of one ward, as pure functions of an alarm's escalation state."""

    def __init__(self, config: EscalationConfig) -> None:
        self.config = config

    def tiers(self, kind: str, priority: str) -> list[str]:
        """Every tier of the ladder, in order."""
        return [s.tier for s in self.config.ladder(kind, priority)]

    def immediate(self, kind: str, priority: str, notified: Sequence[str]) -> list[str]:
        """Tiers to tell now, when an alarm fires (``notified`` empty) or worsens: the steps due at
        once plus every tier already told about the lesser alarm, in ladder order."""
        ladder = self.config.ladder(kind, priority)
        now = [s.tier for s in ladder if s.after_s == 0 or s.tier in notified]
        return now + [t for t in notified if t not in now]

    def due(self, kind: str, priority: str, *, base_ns: int, notified: Sequence[str], now_ns: int) -> list[tuple[str, int]]:
        """Steps not yet notified whose time has come by ``now_ns``: (tier, due time), in order."""
        out = []
        for step in self.config.ladder(kind, priority):
            due_ns = base_ns + round(step.after_s * 1e9)
            if step.tier not in notified and due_ns <= now_ns:
                out.append((step.tier, due_ns))
        return out

    def next_due_ns(self, kind: str, priority: str, *, base_ns: int, notified: Sequence[str]) -> int | None:
        """When the next step falls due (``None``: the ladder is done). Callers may schedule ticks by it."""
        pending = [base_ns + round(s.after_s * 1e9) for s in self.config.ladder(kind, priority) if s.tier not in notified]
        return min(pending, default=None)
