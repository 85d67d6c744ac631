"""Route a notification to every channel of its tier, concurrently, at most once per channel.

The routes come from :class:`~wardwatch.config.NotifySettings` (``WARDWATCH_NOTIFY_RECIPIENTS``):
a tier's e-mail addresses share one :class:`SmtpEmailChannel` (one message to all of them) and
each of its webhook URLs is one :class:`WebhookChannel`. :meth:`NotificationRouter.dispatch` sends
to all of them at once and returns one :class:`DeliveryResult` per channel.

Idempotency: the router remembers the last ``dedup_size`` (notification id, channel) pairs that
were delivered; the same notification dispatched again is answered ``duplicate`` without being
sent, and a second dispatch while the first is still in flight waits for the first. A failed
delivery is not remembered, so dispatching it again retries it. Across restarts, receivers
de-duplicate on the webhook's ``Idempotency-Key`` and the e-mail's ``Message-ID``.

Log lines name the notification id, tier and channel: never a patient, ward or bed.

>>> from wardwatch.config import NotifySettings
>>> settings = NotifySettings(recipients={"bedside_nurse": ["nurse-a@example.org", "nurse-b@example.org"]})
>>> router = NotificationRouter.from_settings(settings)
>>> [(ch.name, ch.recipients) for ch in router.routes["bedside_nurse"]]
[('email', ['nurse-a@example.org', 'nurse-b@example.org'])]
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from types import TracebackType

import msgspec

from wardwatch.alerting.channels.base import Channel, DeliveryResult, Notification, RetryPolicy, patient_link
from wardwatch.alerting.channels.smtp_email import SmtpEmailChannel
from wardwatch.alerting.channels.webhook import WebhookChannel
from wardwatch.config import NotifySettings

__all__ = ["NotificationRouter"]

logger = logging.getLogger(__name__)

_Key = tuple[str, str]


class NotificationRouter:
    """Tier → channels; concurrent fan-out; per-process de-duplication.

    Parameters
    ----------
    routes
        The channels of each tier.
    dedup_size
        How many delivered (notification id, channel) pairs are remembered.
    ward_page_url
        Base URL of the ward page; a notification without a link gets
        ``{ward_page_url}/patients/{patient_ref}``.
    """

    def __init__(self, routes: Mapping[str, Sequence[Channel]], *, dedup_size: int = 10_000, ward_page_url: str = "") -> None:
        if dedup_size < 1:
            raise ValueError("dedup_size must be at least 1")
        self.routes: dict[str, list[Channel]] = {tier: list(chs) for tier, chs in routes.items()}
        self.dedup_size = dedup_size
        self.ward_page_url = ward_page_url
        self._delivered: OrderedDict[_Key, None] = OrderedDict()
        self._in_flight: dict[_Key, asyncio.Future[DeliveryResult]] = {}

    @classmethod
    def from_settings(cls, settings: NotifySettings) -> NotificationRouter:
        """Build the channels of every tier in ``settings`` (webhook channels are shared by URL)."""
        policy = RetryPolicy.from_settings(settings)
        webhooks: dict[str, WebhookChannel] = {}
        routes: dict[str, list[Channel]] = {}
        for tier in settings.recipients:
            emails, urls = settings.targets(tier)
            channels: list[Channel] = []
            if emails:
                channels.append(SmtpEmailChannel(
                    settings.smtp_host, settings.smtp_port, settings.mail_from, emails,
                    username=settings.smtp_username, password=settings.smtp_password.get_secret_value(),
                    starttls=settings.smtp_starttls, ca_file=settings.smtp_ca_file,
                    timeout_s=settings.smtp_timeout_s, policy=policy,
                ))
            for url in dict.fromkeys(urls):
                if url not in webhooks:
                    webhooks[url] = WebhookChannel(url, settings.require_webhook_secret(), policy=policy, timeout_s=settings.webhook_timeout_s)
                channels.append(webhooks[url])
            routes[tier] = channels
        return cls(routes, dedup_size=settings.dedup_size, ward_page_url=settings.ward_page_url)

    @property
    def tiers(self) -> list[str]:
        return list(self.routes)

    async def dispatch(self, notification: Notification) -> list[DeliveryResult]:
        """Send ``notification`` to every channel of its tier at once; one result per channel.

        A tier without channels answers one ``failed`` result from channel ``router``, so the
        alarm log shows that nobody could be told.
        """
        channels = self.routes.get(notification.tier, [])
        if not channels:
            logger.error("notification %s: no channel configured for tier %r", notification.notification_id, notification.tier)
            return [DeliveryResult(notification.notification_id, "router", "failed", 0, 0.0, f"no channel configured for tier {notification.tier!r}")]
        if not notification.link and self.ward_page_url:
            notification = msgspec.structs.replace(notification, link=patient_link(self.ward_page_url, notification.alert.patient_ref))
        results = list(await asyncio.gather(*(self._send_once(ch, notification) for ch in channels)))
        ok = sum(r.delivered for r in results)
        log = logger.info if ok == len(results) else logger.warning
        log("notification %s tier %s: %d of %d channel(s) delivered", notification.notification_id, notification.tier, ok, len(results))
        return results

    async def _send_once(self, channel: Channel, notification: Notification) -> DeliveryResult:
        key = (notification.notification_id, channel.key)
        if key in self._delivered:
            self._delivered.move_to_end(key)
            logger.info("notification %s via %s already delivered: not sent again", notification.notification_id, channel.name)
            return DeliveryResult(notification.notification_id, channel.name, "duplicate", 0, 0.0, "already delivered")
        pending = self._in_flight.get(key)
        if pending is not None:
            first = await asyncio.shield(pending)
            if first.outcome == "failed":
                return first
            return DeliveryResult(notification.notification_id, channel.name, "duplicate", 0, first.latency_s, "delivered by a concurrent dispatch")
        # The send runs to its end even if this dispatch is cancelled; its outcome is recorded then.
        future: asyncio.Future[DeliveryResult] = asyncio.ensure_future(channel.send(notification))
        self._in_flight[key] = future
        future.add_done_callback(lambda f: self._finished(key, f))
        return await asyncio.shield(future)

    def _finished(self, key: _Key, future: asyncio.Future[DeliveryResult]) -> None:
        self._in_flight.pop(key, None)
        if not future.cancelled() and future.exception() is None and future.result().outcome == "delivered":
            self._remember(key)

    def _remember(self, key: _Key) -> None:
        self._delivered[key] = None
        self._delivered.move_to_end(key)
        while len(self._delivered) > self.dedup_size:
            self._delivered.popitem(last=False)

    def already_delivered(self, notification_id: str, channel: Channel) -> bool:
        """Whether this process delivered ``notification_id`` through ``channel`` (and still remembers it)."""
        return (notification_id, channel.key) in self._delivered

    async def close(self) -> None:
        """Close every channel's connections."""
        seen: set[int] = set()
        for channels in self.routes.values():
            for channel in channels:
                if id(channel) not in seen:
                    seen.add(id(channel))
                    await channel.close()

    async def __aenter__(self) -> NotificationRouter:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()
