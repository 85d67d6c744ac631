"""Signed JSON webhook: POST one notification to a receiver (pager gateway, messaging bridge).

The body is compact JSON (keys sorted) with the notification id, tier, reason, headline, note,
the ward-page link and the alert's fields (evidence without the waveform snippet). Headers:

``Idempotency-Key``
    the notification id: a receiver drops a repeat, also across WardWatch restarts.
``X-WardWatch-Timestamp``
    Unix seconds of this attempt.
``X-WardWatch-Signature``
    ``sha256=`` + hex HMAC-SHA256 over ``"<timestamp>.<body>"`` keyed with the webhook secret.

A receiver checks them with :func:`verify_signature` (constant-time compare, stale timestamps
refused). Connection errors, timeouts, HTTP 5xx and 429 are retried; any other 4xx is final.

>>> sig = sign(b"0123456789abcdef", "1767225600", b'{"a":1}')
>>> verify_signature(b"0123456789abcdef", "1767225600", b'{"a":1}', sig, now_s=1767225610)
True
>>> verify_signature(b"0123456789abcdef", "1767225600", b'{"a":2}', sig, now_s=1767225610)
False
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import random
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from wardwatch.alerting.channels.base import Channel, DeliveryError, Notification, RetryPolicy, headline

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "webhook_payload", "encode_body", "sign", "verify_signature", "WebhookChannel"]

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-WardWatch-Signature"
TIMESTAMP_HEADER = "X-WardWatch-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def _finite(mapping: dict[str, float]) -> dict[str, float | None]:
    return {k: (v if math.isfinite(v) else None) for k, v in mapping.items()}


def webhook_payload(notification: Notification) -> dict[str, Any]:
    """The JSON object sent for ``notification`` (NaN becomes ``null``; no waveform snippet)."""
    alert = notification.alert
    ev = alert.evidence
    quality = ev.signal_quality if ev.signal_quality is not None and math.isfinite(ev.signal_quality) else None
    return {
        "notification_id": notification.notification_id,
        "tier": notification.tier,
        "reason": notification.reason,
        "headline": headline(notification),
        "note": notification.note,
        "link": notification.link,
        "alert": {
            "alert_id": alert.alert_id,
            "patient_ref": alert.patient_ref,
            "ward": alert.ward,
            "bed": alert.bed,
            "kind": alert.kind,
            "priority": alert.priority,
            "source": alert.source,
            "onset_ns": alert.onset_ns,
            "updated_ns": alert.updated_ns,
            "state": alert.state,
            "message": alert.message,
            "evidence": {
                "values": _finite(ev.values),
                "thresholds": _finite(ev.thresholds),
                "scores": _finite(ev.scores),
                "signal_quality": quality,
            },
        },
    }


def encode_body(notification: Notification) -> bytes:
    """The request body: compact UTF-8 JSON with sorted keys (the same bytes on every attempt)."""
    return json.dumps(webhook_payload(notification), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def sign(secret: bytes, timestamp: str | int, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 keyed by ``secret`` over ``b"<timestamp>." + body``."""
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_signature(
    secret: bytes,
    timestamp: str,
    body: bytes,
    header: str,
    tolerance_s: float = 300.0,
    now_s: float | None = None,
) -> bool:
    """Check a webhook as a receiver would.

    Parameters
    ----------
    secret
        The shared webhook secret.
    timestamp
        The ``X-WardWatch-Timestamp`` header (Unix seconds).
    body
        The raw request body, exactly as received.
    header
        The ``X-WardWatch-Signature`` header.
    tolerance_s
        Largest accepted distance between ``timestamp`` and now, in seconds (replay window).
    now_s
        The receiver's clock (Unix seconds); ``time.time()`` when omitted.

    Returns
    -------
    bool
        ``True`` when the signature matches and the timestamp is fresh.
    """
    if not timestamp.isdigit() or not header.startswith("sha256="):
        return False
    now = time.time() if now_s is None else now_s
    if abs(now - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: ignore it, the backoff applies


class WebhookChannel(Channel):
    """POST signed JSON to ``url``.

    Parameters
    ----------
    url
        The receiver's URL (it may hold a token in its path: it is never logged).
    secret
        HMAC key shared with the receiver.
    policy
        Retry policy.
    timeout_s
        Timeout of one attempt (connect and answer).
    """

    kind = "webhook"

    def __init__(self, url: str, secret: bytes, *, policy: RetryPolicy | None = None, timeout_s: float = 10.0,
                 rng: random.Random | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("webhook URL must be http:// or https://")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        name = f"webhook:{parts.hostname}:{port}"
        key = f"{name}#{hashlib.sha256(url.encode()).hexdigest()[:12]}"
        super().__init__(name, policy=policy, key=key, rng=rng)
        self.url = url
        self._secret = secret
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def attempt(self, notification: Notification) -> str:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        body = encode_body(notification)
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "WardWatch-webhook/1",
            IDEMPOTENCY_HEADER: notification.notification_id,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
        }
        try:
            async with self._session.post(self.url, data=body, headers=headers, allow_redirects=False) as response:
                await response.read()
                status = response.status
                retry_after = _retry_after(response.headers.get("Retry-After"))
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise DeliveryError(f"connection error: {type(exc).__name__}", retryable=True) from exc
        if 200 <= status < 300:
            return ""
        if status == 429 or status >= 500:
            raise DeliveryError(f"HTTP {status}", retryable=True, retry_after_s=retry_after)
        raise DeliveryError(f"HTTP {status}", retryable=False)

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
