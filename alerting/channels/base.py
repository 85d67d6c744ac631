"""The notification-channel contract: what a channel sends, what it answers, how it retries.

A :class:`Notification` is one alert for one tier of staff (bedside nurse, charge nurse, on-call
doctor) with the reason it goes out (raised, worsened, escalated), an optional note from the
summarizer and a link to the patient on the ward page. A :class:`Channel` delivers it and answers
a :class:`DeliveryResult` (delivered / failed with the reason, attempts, latency); it never raises
for a delivery failure. :meth:`Channel.send` retries a retryable failure with exponential backoff
and jitter, at most :attr:`RetryPolicy.max_attempts` attempts in all.

A notification carries the patient's pseudonymous reference, ward and bed only: never a name or a
record number (WardWatch's records do not hold them).

>>> policy = RetryPolicy(max_attempts=4, backoff_s=0.5, backoff_max_s=1.5, jitter=0.0)
>>> policy.delays_s()
[0.5, 1.0, 1.5]
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal

import msgspec

from wardwatch.errors import WardWatchError
from wardwatch.streams.records import Alert

if TYPE_CHECKING:
    from wardwatch.config import NotifySettings

__all__ = [
    "NotificationReason",
    "Notification",
    "DeliveryResult",
    "DeliveryError",
    "RetryPolicy",
    "Channel",
    "patient_link",
    "headline",
    "fact_lines",
]

logger = logging.getLogger(__name__)

NotificationReason = Literal["raised", "worsened", "escalated"]
Outcome = Literal["delivered", "failed", "duplicate"]


class Notification(msgspec.Struct, frozen=True, kw_only=True):
    """One alert sent to one tier of staff.

    Parameters
    ----------
    notification_id
        Deterministic id from the alerting core (same alert, tier and reason ⇒ same id); the
        webhook's ``Idempotency-Key`` and the e-mail's ``Message-ID`` are built from it.
    alert
        The alert, as on the ``alerts`` topic.
    tier
        Who is told: ``bedside_nurse``, ``charge_nurse``, ``on_call_doctor``, ...
    reason
        Why now: ``raised``, ``worsened`` or ``escalated``.
    note
        The summarizer's clinician-readable note, empty when there is none (yet).
    link
        URL of the patient on the ward page (see :func:`patient_link`), empty when not configured.
    """

    notification_id: str
    alert: Alert
    tier: str
    reason: NotificationReason
    note: str = ""
    link: str = ""


def patient_link(ward_page_url: str, patient_ref: str) -> str:
    """``{ward_page_url}/patients/{patient_ref}``, or ``""`` when no ward page is configured."""
    if not ward_page_url:
        return ""
    return f"{ward_page_url.rstrip('/')}/patients/{patient_ref}"


@dataclass(frozen=True)
class DeliveryResult:
    """What one channel did with one notification.

    ``outcome`` is ``delivered``, ``failed`` (``reason`` says why) or ``duplicate`` (already
    delivered by this process: not sent again). ``latency_s`` runs from the first attempt to the
    answer, retries and backoff included.
    """

    notification_id: str
    channel: str
    outcome: Outcome
    attempts: int
    latency_s: float
    reason: str = ""

    @property
    def delivered(self) -> bool:
        return self.outcome != "failed"


class DeliveryError(WardWatchError, ConnectionError):
    """One delivery attempt failed. ``retryable``: worth another attempt (connection error, HTTP
    5xx or 429, SMTP 4xx); ``retry_after_s``: the server's requested wait, when it gave one."""

    def __init__(self, reason: str, *, retryable: bool, retry_after_s: float | None = None) -> None:
        self.reason = reason
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        super().__init__(reason)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter.

    The delay before retry ``k`` (``k = 1`` before the second attempt) is
    ``min(backoff_max_s, backoff_s * 2**(k-1))``, shortened by a random fraction of at most
    ``jitter`` so that many workers do not retry in step. A server's ``Retry-After`` lengthens a
    delay, never past ``backoff_max_s``.
    """

    max_attempts: int = 5
    backoff_s: float = 1.0
    backoff_max_s: float = 30.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.backoff_s < 0 or self.backoff_max_s < 0:
            raise ValueError("backoff_s and backoff_max_s must not be negative")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must lie in [0, 1]")

    @classmethod
    def from_settings(cls, settings: NotifySettings) -> RetryPolicy:
        return cls(max_attempts=settings.max_attempts, backoff_s=settings.backoff_s, backoff_max_s=settings.backoff_max_s)

    def delay_s(self, retry: int, u: float = 0.0, retry_after_s: float | None = None) -> float:
        """Delay before retry ``retry`` (1-based), with ``u`` in [0, 1) the random draw."""
        base = min(self.backoff_max_s, self.backoff_s * 2.0 ** (retry - 1))
        delay = base * (1.0 - self.jitter * u)
        if retry_after_s is not None and math.isfinite(retry_after_s):
            delay = max(delay, min(retry_after_s, self.backoff_max_s))
        return delay

    def delays_s(self, rng: random.Random | None = None) -> list[float]:
        """The whole schedule: one delay per retry (``max_attempts - 1`` of them)."""
        return [self.delay_s(k, rng.random() if rng else 0.0) for k in range(1, self.max_attempts)]


class Channel(ABC):
    """A way to reach staff. Subclasses implement :meth:`attempt`; callers use :meth:`send`.

    ``name`` identifies the channel in results, logs and the alarm log (``email``,
    ``webhook:host:port``): no patient data, no secrets. ``key`` tells two channels of one kind apart
    (recipients, URL path) for de-duplication.
    """

    kind: str = "channel"

    def __init__(self, name: str, *, policy: RetryPolicy | None = None, key: str | None = None, rng: random.Random | None = None) -> None:
        self.name = name
        self.key = key or name
        self.policy = policy or RetryPolicy()
        self._rng = rng or random.Random()

    @abstractmethod
    async def attempt(self, notification: Notification) -> str:
        """Deliver once. Return when accepted (a remark such as "1 of 3 recipients refused", or
        ``""``); raise :class:`DeliveryError` when not."""

    async def close(self) -> None:
        """Release connections (sessions, pools). Safe to call twice."""

    async def send(self, notification: Notification) -> DeliveryResult:
        """Deliver ``notification``, retrying per :attr:`policy`; never raises for a failure."""
        start = time.perf_counter()
        reason = ""
        attempts = 0
        for attempts in range(1, self.policy.max_attempts + 1):
            try:
                remark = await self.attempt(notification)
            except DeliveryError as exc:
                reason = exc.reason
                if not exc.retryable or attempts == self.policy.max_attempts:
                    break
                delay = self.policy.delay_s(attempts, self._rng.random(), exc.retry_after_s)
                logger.info("notification %s via %s: attempt %d/%d failed (%s); retry in %.2f s",
                            notification.notification_id, self.name, attempts, self.policy.max_attempts, reason, delay)
                await asyncio.sleep(delay)
            except Exception as exc:  # a bug or an unforeseen error: report it, do not retry blindly
                reason = f"{type(exc).__name__}: {exc}"
                logger.exception("notification %s via %s: unexpected error", notification.notification_id, self.name)
                break
            else:
                latency = time.perf_counter() - start
                logger.info("notification %s via %s delivered (attempt %d, %.3f s)", notification.notification_id, self.name, attempts, latency)
                return DeliveryResult(notification.notification_id, self.name, "delivered", attempts, latency, remark or "")
        latency = time.perf_counter() - start
        logger.warning("notification %s via %s FAILED after %d attempt(s): %s", notification.notification_id, self.name, attempts, reason)
        return DeliveryResult(notification.notification_id, self.name, "failed", attempts, latency, reason)


# --- wording shared by the channels ---------------------------------------------------------------

_REASON_WORD = {"raised": "", "worsened": "WORSENED ", "escalated": "ESCALATED "}


def _num(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.4g}"


def _one_line(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _utc(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _what(alert: Alert) -> str:
    if alert.message:
        return alert.message
    ev = alert.evidence
    parts = [f"{k} {_num(v)}" for k, v in sorted(ev.values.items())]
    parts += [f"threshold {k} {_num(v)}" for k, v in sorted(ev.thresholds.items())]
    return f"{alert.source}" + (f" ({'; '.join(parts)})" if parts else "")


def headline(notification: Notification) -> str:
    """One line, priority in words first: ``[HIGH] bed 07 ward-a: SpO2 84 % below 85 %``.

    Technical alarms say so (``[LOW] TECHNICAL bed 07 ...``); a worsened or escalated alarm says
    so too. No line breaks (it becomes an e-mail subject).
    """
    alert = notification.alert
    kind = "TECHNICAL " if alert.kind == "technical" else ""
    text = f"[{alert.priority.upper()}] {_REASON_WORD[notification.reason]}{kind}bed {alert.bed} {alert.ward}: {_what(alert)}"
    return _one_line(text, 200)


def fact_lines(notification: Notification) -> list[str]:
    """The alert's facts, one per line, for a human reader (the e-mail body)."""
    alert = notification.alert
    ev = alert.evidence
    lines = [
        f"{alert.priority.upper()} priority {alert.kind} alarm, {notification.reason}",
        f"Ward {alert.ward}, bed {alert.bed}, patient {alert.patient_ref} (pseudonymous reference)",
        f"What: {_what(alert)}",
        f"Rule: {alert.source}",
        f"Since: {_utc(alert.onset_ns)} (last update {_utc(alert.updated_ns)})",
        f"State: {alert.state}",
    ]
    for label, values in (("Values", ev.values), ("Thresholds", ev.thresholds), ("Scores", ev.scores)):
        if values:
            lines.append(f"{label}: " + ", ".join(f"{k} = {_num(v)}" for k, v in sorted(values.items())))
    if ev.signal_quality is not None:
        lines.append(f"Signal quality: {_num(ev.signal_quality)}")
    lines.append(f"Notified tier: {notification.tier}")
    return lines
