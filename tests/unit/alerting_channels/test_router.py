"""Router: tier fan-out (concurrent), one result per channel, de-duplication, unknown tiers."""

from __future__ import annotations

import asyncio

import pytest

from wardwatch.alerting.channels import Channel, DeliveryError, Notification, NotificationRouter, RetryPolicy, SmtpEmailChannel, WebhookChannel
from wardwatch.config import NotifySettings
from wardwatch.errors import ConfigurationError

from .samples import PATIENT_REF, make_notification

FAST = RetryPolicy(max_attempts=2, backoff_s=0.0, backoff_max_s=0.0)


class RecordingChannel(Channel):
    """Keeps what it was asked to deliver; optionally waits for the other channels to start too."""

    def __init__(self, name: str, barrier: asyncio.Barrier | None = None, fail: bool = False) -> None:
        super().__init__(name, policy=FAST)
        self.sent: list[Notification] = []
        self.barrier = barrier
        self.fail = fail

    async def attempt(self, notification: Notification) -> str:
        if self.barrier is not None:
            # Passes only when every channel of the tier is inside attempt() at once.
            await asyncio.wait_for(self.barrier.wait(), timeout=2.0)
        self.sent.append(notification)
        if self.fail:
            raise DeliveryError("HTTP 400", retryable=False)
        return ""


def test_fans_out_to_every_channel_of_the_tier_concurrently() -> None:
    async def main() -> None:
        barrier = asyncio.Barrier(3)
        nurse = [RecordingChannel(f"c{i}", barrier) for i in range(3)]
        doctor = RecordingChannel("doc")
        router = NotificationRouter({"bedside_nurse": nurse, "on_call_doctor": [doctor]})
        results = await router.dispatch(make_notification())
        assert [r.channel for r in results] == ["c0", "c1", "c2"]
        assert all(r.outcome == "delivered" and r.attempts == 1 for r in results)
        assert all(len(ch.sent) == 1 for ch in nurse) and doctor.sent == []

    asyncio.run(main())


def test_one_failing_channel_does_not_stop_the_others() -> None:
    async def main() -> None:
        ok, bad = RecordingChannel("ok"), RecordingChannel("bad", fail=True)
        results = await NotificationRouter({"t": [ok, bad]}).dispatch(make_notification(tier="t"))
        assert [(r.channel, r.outcome, r.reason) for r in results] == [("ok", "delivered", ""), ("bad", "failed", "HTTP 400")]

    asyncio.run(main())


def test_delivered_notification_is_not_sent_twice_but_a_failed_one_is_retried() -> None:
    async def main() -> None:
        ok, bad = RecordingChannel("ok"), RecordingChannel("bad", fail=True)
        router = NotificationRouter({"t": [ok, bad]})
        n = make_notification(tier="t")
        await router.dispatch(n)
        again = await router.dispatch(n)
        assert [(r.channel, r.outcome, r.attempts) for r in again] == [("ok", "duplicate", 0), ("bad", "failed", 1)]
        assert len(ok.sent) == 1 and len(bad.sent) == 2
        assert router.already_delivered(n.notification_id, ok) and not router.already_delivered(n.notification_id, bad)
        other = await router.dispatch(make_notification(tier="t", nid="n-0002"))
        assert other[0].outcome == "delivered" and len(ok.sent) == 2

    asyncio.run(main())


def test_concurrent_dispatches_of_one_notification_send_once() -> None:
    async def main() -> None:
        ch = RecordingChannel("ok")
        router = NotificationRouter({"t": [ch]})
        n = make_notification(tier="t")
        first, second = await asyncio.gather(router.dispatch(n), router.dispatch(n))
        assert sorted([first[0].outcome, second[0].outcome]) == ["delivered", "duplicate"]
        assert len(ch.sent) == 1

    asyncio.run(main())


def test_dedup_memory_is_bounded() -> None:
    async def main() -> None:
        ch = RecordingChannel("ok")
        router = NotificationRouter({"t": [ch]}, dedup_size=2)
        for nid in ("n-1", "n-2", "n-3"):
            await router.dispatch(make_notification(tier="t", nid=nid))
        assert not router.already_delivered("n-1", ch)  # forgotten: oldest first
        assert router.already_delivered("n-2", ch) and router.already_delivered("n-3", ch)

    asyncio.run(main())


def test_unknown_tier_is_a_failed_result_not_silence() -> None:
    results = asyncio.run(NotificationRouter({"t": [RecordingChannel("ok")]}).dispatch(make_notification(tier="nobody")))
    assert [(r.channel, r.outcome) for r in results] == [("router", "failed")]
    assert "nobody" in results[0].reason


def test_link_is_filled_from_the_ward_page_url() -> None:
    ch = RecordingChannel("ok")
    asyncio.run(NotificationRouter({"t": [ch]}, ward_page_url="https://ward.example.org/").dispatch(make_notification(tier="t")))
    assert ch.sent[0].link == f"https://ward.example.org/patients/{PATIENT_REF}"


def test_routes_from_settings() -> None:
    settings = NotifySettings(
        recipients={"bedside_nurse": ["nurse-a@example.org", "mailto:nurse-b@example.org", "webhook"],
                    "on_call_doctor": ["webhook", "https://pager.example.org/hook/T0KEN"]},
        webhook_url="https://bridge.example.org/wardwatch", webhook_secret="s" * 20, max_attempts=3)
    router = NotificationRouter.from_settings(settings)
    nurse, doctor = router.routes["bedside_nurse"], router.routes["on_call_doctor"]
    assert isinstance(nurse[0], SmtpEmailChannel) and nurse[0].recipients == ["nurse-a@example.org", "nurse-b@example.org"]
    assert isinstance(nurse[1], WebhookChannel) and nurse[1] is doctor[0]  # one channel per URL
    assert [ch.name for ch in doctor] == ["webhook:bridge.example.org:443", "webhook:pager.example.org:443"]
    assert "T0KEN" not in doctor[1].name  # URL paths may hold tokens: never in names or logs
    assert nurse[0].policy.max_attempts == 3


def test_webhook_without_secret_is_a_configuration_error() -> None:
    settings = NotifySettings(recipients={"t": ["https://pager.example.org/hook"]})
    with pytest.raises(ConfigurationError, match="WARDWATCH_NOTIFY_WEBHOOK_SECRET"):
        NotificationRouter.from_settings(settings)
