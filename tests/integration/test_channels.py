"""Notification channels against real servers on loopback: an aiosmtpd SMTP server and an aiohttp
web server that verifies the webhook signature the way a receiver would. No mocks."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from wardwatch.alerting.channels import NotificationRouter, RetryPolicy, SmtpEmailChannel, WebhookChannel, verify_signature
from wardwatch.config import NotifySettings

from ..unit.alerting_channels.samples import HOSPITAL_ID, PATIENT_REF, make_notification

SECRET = b"integration-webhook-secret-0123"
FAST = RetryPolicy(max_attempts=4, backoff_s=0.05, backoff_max_s=0.2, jitter=0.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- a real SMTP server ------------------------------------------------------------------------------
@dataclass
class Mailbox:
    """What the SMTP server accepted; ``refuse`` holds addresses it answers 550 for."""

    envelopes: list[Envelope] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        with self.lock:
            self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        return [message_from_bytes(e.original_content or b"", policy=policy.default) for e in self.envelopes]  # type: ignore[misc]


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


# --- a real HTTP receiver ----------------------------------------------------------------------------
@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool
    at: float


@asynccontextmanager
async def receiver(answers: list[tuple[int, dict[str, str]]] | None = None) -> AsyncIterator[tuple[str, list[Received]]]:
    """An aiohttp server that checks each request's signature and answers from ``answers`` (then 200)."""
    got: list[Received] = []
    script = list(answers or [])

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        ok = verify_signature(SECRET, request.headers.get("X-WardWatch-Timestamp", ""), body,
                              request.headers.get("X-WardWatch-Signature", ""), tolerance_s=60)
        got.append(Received(dict(request.headers), body, ok, time.monotonic()))
        if not ok:
            return web.Response(status=401, text="bad signature")
        status, headers = script.pop(0) if script else (200, {})
        return web.Response(status=status, headers=headers, text="ok" if status < 300 else "no")

    app = web.Application()
    app.router.add_post("/hooks/wardwatch", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/hooks/wardwatch", got
    finally:
        await runner.cleanup()


async def _send_webhook(url: str, notification: Any, policy: RetryPolicy = FAST) -> Any:
    channel = WebhookChannel(url, SECRET, policy=policy, timeout_s=5)
    try:
        return await channel.send(notification)
    finally:
        await channel.close()


# --- webhook ---------------------------------------------------------------------------------------------
def test_webhook_is_delivered_signed_and_verified() -> None:
    link = f"http://127.0.0.1:8080/patients/{PATIENT_REF}"

    async def main() -> None:
        async with receiver() as (url, got):
            result = await _send_webhook(url, make_notification(nid="n-hook-1", note="SpO2 fell to 84 %.", link=link))
        assert (result.outcome, result.attempts, result.channel) == ("delivered", 1, f"webhook:127.0.0.1:{url.split(':')[2].split('/')[0]}")
        assert len(got) == 1 and got[0].verified
        assert got[0].headers["Idempotency-Key"] == "n-hook-1"
        assert got[0].headers["Content-Type"] == "application/json"
        doc = json.loads(got[0].body)
        assert doc["headline"] == "[HIGH] bed 07 ward-a: SpO2 84 % below 85 %"
        assert doc["link"] == link and doc["note"] == "SpO2 fell to 84 %."
        assert doc["alert"]["evidence"]["values"]["spo2_pct"] == 84.0
        assert HOSPITAL_ID not in got[0].body.decode()

    asyncio.run(main())


def test_webhook_503_twice_then_200_is_delivered_on_the_third_attempt_after_backoff() -> None:
    async def main() -> None:
        async with receiver([(503, {}), (503, {}), (200, {})]) as (url, got):
            result = await _send_webhook(url, make_notification(nid="n-hook-2"))
        assert (result.outcome, result.attempts) == ("delivered", 3)
        assert len(got) == 3 and all(r.verified for r in got)
        assert {r.headers["Idempotency-Key"] for r in got} == {"n-hook-2"}
        assert len({r.body for r in got}) == 1  # same body every attempt
        gaps = [b.at - a.at for a, b in zip(got, got[1:])]
        assert gaps[0] >= 0.05 * 0.95 and gaps[1] >= 0.10 * 0.95  # waited the backoff (jitter 0)

    asyncio.run(main())


def test_webhook_429_is_retried() -> None:
    async def main() -> None:
        async with receiver([(429, {"Retry-After": "0"})]) as (url, got):
            result = await _send_webhook(url, make_notification())
        assert (result.outcome, result.attempts, len(got)) == ("delivered", 2, 2)

    asyncio.run(main())


def test_webhook_400_fails_without_retry() -> None:
    async def main() -> None:
        async with receiver([(400, {}), (200, {})]) as (url, got):
            result = await _send_webhook(url, make_notification())
        assert (result.outcome, result.attempts, result.reason) == ("failed", 1, "HTTP 400")
        assert len(got) == 1

    asyncio.run(main())


def test_webhook_with_the_wrong_secret_is_refused_by_the_receiver() -> None:
    async def main() -> None:
        async with receiver() as (url, got):
            channel = WebhookChannel(url, b"not-the-shared-secret-000", policy=FAST)
            result = await channel.send(make_notification())
            await channel.close()
        assert (result.outcome, result.reason) == ("failed", "HTTP 401")
        assert len(got) == 1 and not got[0].verified

    asyncio.run(main())


def test_webhook_to_an_unreachable_port_fails_after_max_attempts() -> None:
    port = free_port()  # nothing listens there
    policy = RetryPolicy(max_attempts=3, backoff_s=0.01, backoff_max_s=0.02, jitter=0.0)
    result = asyncio.run(_send_webhook(f"http://127.0.0.1:{port}/x", make_notification(), policy))
    assert (result.outcome, result.attempts) == ("failed", 3)
    assert result.reason.startswith("connection error")


# --- e-mail --------------------------------------------------------------------------------------------
def test_email_is_received_with_subject_headers_body_and_recipients(smtp_server: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp_server
    to = ["nurse-a@hospital.example", "nurse-b@hospital.example"]
    channel = SmtpEmailChannel("127.0.0.1", port, "wardwatch@hospital.example", to, policy=FAST)
    link = f"https://ward.hospital.example/patients/{PATIENT_REF}"
    result = asyncio.run(channel.send(make_notification(nid="n-mail-1", note="SpO2 fell from 95 % to 84 %.", link=link)))
    assert (result.outcome, result.attempts, result.channel) == ("delivered", 1, "email")
    assert len(mailbox.envelopes) == 1
    envelope = mailbox.envelopes[0]
    assert envelope.mail_from == "wardwatch@hospital.example" and envelope.rcpt_tos == to
    msg = mailbox.messages()[0]
    assert msg["Subject"] == "[HIGH] bed 07 ward-a: SpO2 84 % below 85 %"
    assert msg["Message-ID"] == "<n-mail-1@hospital.example>"
    assert msg["X-WardWatch-Priority"] == "high"
    body = msg.get_content()
    for expected in ("spo2_pct = 84", "spo2_low_pct = 85", "news2.total = 7", "SpO2 fell from 95 % to 84 %.", link, PATIENT_REF):
        assert expected in body, expected
    assert HOSPITAL_ID not in (envelope.original_content or b"").decode()


def test_email_partly_refused_is_delivered_with_a_remark(smtp_server: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp_server
    mailbox.refuse = {"gone@hospital.example"}
    channel = SmtpEmailChannel("127.0.0.1", port, "wardwatch@hospital.example", ["nurse@hospital.example", "gone@hospital.example"], policy=FAST)
    result = asyncio.run(channel.send(make_notification()))
    assert result.outcome == "delivered" and result.reason == "1 of 2 recipient(s) refused (SMTP 550)"
    assert mailbox.envelopes[0].rcpt_tos == ["nurse@hospital.example"]


def test_email_all_refused_fails_without_retry(smtp_server: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp_server
    mailbox.refuse = {"gone@hospital.example"}
    channel = SmtpEmailChannel("127.0.0.1", port, "wardwatch@hospital.example", ["gone@hospital.example"], policy=FAST)
    result = asyncio.run(channel.send(make_notification()))
    assert (result.outcome, result.attempts) == ("failed", 1)
    assert "550" in result.reason and mailbox.envelopes == []


def test_email_to_an_unreachable_server_fails_after_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3, backoff_s=0.01, backoff_max_s=0.02, jitter=0.0)
    channel = SmtpEmailChannel("127.0.0.1", free_port(), "wardwatch@hospital.example", ["nurse@hospital.example"], policy=policy, timeout_s=2)
    result = asyncio.run(channel.send(make_notification()))
    assert (result.outcome, result.attempts) == ("failed", 3)
    assert result.reason.startswith("connection error")


@pytest.fixture
def tls_cert(tmp_path: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the STARTTLS test needs the `openssl` command (Debian package openssl) to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def test_email_with_starttls_and_authentication(tls_cert: tuple[Path, Path]) -> None:
    cert, key = tls_cert
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    logins: list[tuple[bytes, bool]] = []

    def authenticate(server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login == b"wardwatch" and data.password == b"relay-pass"
        logins.append((data.login, session.ssl is not None))
        return AuthResult(success=ok, handled=False)

    mailbox, port = Mailbox(), free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
                            auth_required=True, authenticator=authenticate)
    controller.start()
    try:
        kw: dict[str, Any] = {"starttls": True, "ca_file": str(cert), "policy": FAST}
        good = SmtpEmailChannel("127.0.0.1", port, "wardwatch@hospital.example", ["dr@hospital.example"],
                                username="wardwatch", password="relay-pass", **kw)
        assert asyncio.run(good.send(make_notification())).outcome == "delivered"
        bad = SmtpEmailChannel("127.0.0.1", port, "wardwatch@hospital.example", ["dr@hospital.example"],
                               username="wardwatch", password="wrong", **kw)
        refused = asyncio.run(bad.send(make_notification()))
        untrusted = SmtpEmailChannel("127.0.0.1", port, "wardwatch@hospital.example", ["dr@hospital.example"], starttls=True, policy=FAST)
        unverified = asyncio.run(untrusted.send(make_notification()))
    finally:
        controller.stop()
    assert len(mailbox.envelopes) == 1 and mailbox.envelopes[0].rcpt_tos == ["dr@hospital.example"]
    assert logins[0] == (b"wardwatch", True)  # authenticated inside TLS
    assert (refused.outcome, refused.attempts, refused.reason) == ("failed", 1, "SMTP 535")
    assert (unverified.outcome, unverified.attempts) == ("failed", 1) and "certificate" in unverified.reason


# --- router: both channels of a tier, once ------------------------------------------------------------
def test_router_sends_to_every_channel_of_the_tier_once(smtp_server: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp_server

    async def main() -> None:
        async with receiver() as (url, got):
            settings = NotifySettings(
                recipients={"bedside_nurse": ["nurse-a@hospital.example", "webhook"], "on_call_doctor": ["dr@hospital.example"]},
                webhook_url=url, webhook_secret=SECRET.decode(), smtp_host="127.0.0.1", smtp_port=port,  # type: ignore[arg-type]
                mail_from="wardwatch@hospital.example", ward_page_url="http://127.0.0.1:8080", max_attempts=2, backoff_s=0.01)
            async with NotificationRouter.from_settings(settings) as router:
                n = make_notification(nid="n-route-1")
                first = await router.dispatch(n)
                second = await router.dispatch(n)
        assert sorted((r.channel.split(":")[0], r.outcome) for r in first) == [("email", "delivered"), ("webhook", "delivered")]
        assert [r.outcome for r in second] == ["duplicate", "duplicate"]
        assert len(mailbox.envelopes) == 1 and mailbox.envelopes[0].rcpt_tos == ["nurse-a@hospital.example"]
        assert len(got) == 1 and got[0].verified
        assert json.loads(got[0].body)["link"] == f"http://127.0.0.1:8080/patients/{PATIENT_REF}"

    asyncio.run(main())
