"""Retry policy and Channel.send: bounded exponential backoff with jitter, retryable vs final."""

from __future__ import annotations

import asyncio
import random

import pytest

from wardwatch.alerting.channels import Channel, DeliveryError, Notification, RetryPolicy

from .samples import make_notification


def test_schedule_doubles_and_is_capped() -> None:
    policy = RetryPolicy(max_attempts=6, backoff_s=0.5, backoff_max_s=3.0, jitter=0.0)
    assert policy.delays_s() == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_single_attempt_has_no_retry() -> None:
    assert RetryPolicy(max_attempts=1).delays_s() == []


def test_jitter_shortens_within_bounds() -> None:
    policy = RetryPolicy(max_attempts=8, backoff_s=1.0, backoff_max_s=10.0, jitter=0.5)
    plain = RetryPolicy(max_attempts=8, backoff_s=1.0, backoff_max_s=10.0, jitter=0.0).delays_s()
    rng = random.Random(7)
    for _ in range(200):
        delays = policy.delays_s(rng)
        assert all(0.5 * p <= d <= p for d, p in zip(delays, plain))
    assert len({tuple(policy.delays_s(rng)) for _ in range(5)}) > 1  # really random


def test_retry_after_lengthens_but_never_past_the_cap() -> None:
    policy = RetryPolicy(max_attempts=3, backoff_s=1.0, backoff_max_s=5.0, jitter=0.0)
    assert policy.delay_s(1, retry_after_s=3.0) == 3.0
    assert policy.delay_s(1, retry_after_s=600.0) == 5.0
    assert policy.delay_s(2, retry_after_s=0.1) == 2.0


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"backoff_s": -1.0}, {"jitter": 1.5}])
def test_bad_policy_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


class ScriptedChannel(Channel):
    """A channel whose attempts follow a script: an exception to raise, or None to accept."""

    def __init__(self, script: list[BaseException | None], policy: RetryPolicy) -> None:
        super().__init__("scripted", policy=policy)
        self.script = list(script)
        self.calls = 0

    async def attempt(self, notification: Notification) -> str:
        self.calls += 1
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome
        return ""


FAST = RetryPolicy(max_attempts=4, backoff_s=0.0, backoff_max_s=0.0)


def _send(channel: Channel):  # type: ignore[no-untyped-def]
    return asyncio.run(channel.send(make_notification()))


def test_transient_failures_then_success() -> None:
    ch = ScriptedChannel([DeliveryError("HTTP 503", retryable=True)] * 2 + [None], FAST)
    result = _send(ch)
    assert (result.outcome, result.attempts, ch.calls) == ("delivered", 3, 3)


def test_final_failure_is_not_retried() -> None:
    ch = ScriptedChannel([DeliveryError("HTTP 400", retryable=False), None], FAST)
    result = _send(ch)
    assert (result.outcome, result.attempts, result.reason, ch.calls) == ("failed", 1, "HTTP 400", 1)


def test_gives_up_after_max_attempts() -> None:
    ch = ScriptedChannel([DeliveryError("connection error: X", retryable=True)] * 10, FAST)
    result = _send(ch)
    assert (result.outcome, result.attempts, ch.calls) == ("failed", 4, 4)
    assert result.reason == "connection error: X"


def test_unexpected_error_is_reported_not_raised_nor_retried() -> None:
    ch = ScriptedChannel([KeyError("boom"), None], FAST)
    result = _send(ch)
    assert (result.outcome, result.attempts, ch.calls) == ("failed", 1, 1)
    assert "KeyError" in result.reason


def test_send_waits_the_backoff_between_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def recording_sleep(delay: float) -> None:
        slept.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", recording_sleep)
    policy = RetryPolicy(max_attempts=4, backoff_s=0.01, backoff_max_s=0.03, jitter=0.0)
    ch = ScriptedChannel([DeliveryError("HTTP 503", retryable=True)] * 3 + [None], policy)
    result = _send(ch)
    assert result.outcome == "delivered"
    assert slept == [0.01, 0.02, 0.03]
