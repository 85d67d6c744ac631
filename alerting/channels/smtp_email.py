"""E-mail through an SMTP relay, with the standard library (``smtplib`` in a worker thread).

One message per notification goes to every address of the tier. The subject is the headline,
priority in words first (``[HIGH] bed 07 ward-a: SpO2 84 % below 85 %``); the plain-text body holds
the alert's facts, the summarizer's note when there is one and the ward-page link. The
``Message-ID`` is built from the notification id, so a mail system can drop a repeat. STARTTLS
(with an optional private CA file) and authentication are optional.

Connection errors and SMTP 4xx answers are retried; 5xx answers (refused recipient, failed
authentication) are final. When some recipients are refused and others accepted, the message
counts as delivered and the result's ``reason`` says how many were refused.

>>> from wardwatch.streams.records import Alert, alert_id
>>> ref, onset = "p-0123456789abcdef0123", 1_767_225_600_000_000_000
>>> alert = Alert(alert_id=alert_id(ref, "spo2_low", onset), patient_ref=ref, ward="ward-a", bed="07",
...     kind="physiological", priority="high", source="spo2_low", onset_ns=onset, updated_ns=onset,
...     state="active", message="SpO2 84 % below 85 %")
>>> n = Notification(notification_id="n-1", alert=alert, tier="bedside_nurse", reason="raised")
>>> build_email(n, "wardwatch@example.org", ["nurse@example.org"])["Subject"]
'[HIGH] bed 07 ward-a: SpO2 84 % below 85 %'
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate

from wardwatch.alerting.channels.base import Channel, DeliveryError, Notification, RetryPolicy, fact_lines, headline

__all__ = ["build_email", "SmtpEmailChannel"]

logger = logging.getLogger(__name__)

_X_PRIORITY = {"high": "1 (Highest)", "medium": "3 (Normal)", "low": "5 (Lowest)"}


def build_email(notification: Notification, mail_from: str, recipients: Sequence[str]) -> EmailMessage:
    """The e-mail for ``notification`` (plain text, UTF-8)."""
    alert = notification.alert
    msg = EmailMessage()
    msg["Subject"] = headline(notification)
    msg["From"] = mail_from
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(usegmt=True)
    domain = mail_from.rpartition("@")[2] or "wardwatch"
    msg["Message-ID"] = f"<{notification.notification_id}@{domain}>"
    msg["X-WardWatch-Notification-Id"] = notification.notification_id
    msg["X-WardWatch-Alert-Id"] = alert.alert_id
    msg["X-WardWatch-Priority"] = alert.priority
    msg["X-Priority"] = _X_PRIORITY[alert.priority]
    if alert.priority == "high":
        msg["Importance"] = "high"
    msg["Auto-Submitted"] = "auto-generated"
    lines = fact_lines(notification)
    if notification.note:
        lines += ["", "Note:", notification.note.strip()]
    if notification.link:
        lines += ["", "Open on the ward page:", notification.link]
    lines += ["", f"Notification {notification.notification_id}, alert {alert.alert_id}.",
              "Sent by WardWatch. Check the patient:", "this message does not replace the bedside alarm."]
    msg.set_content("\n".join(lines) + "\n")
    return msg


class SmtpEmailChannel(Channel):
    """Send notifications as e-mail to ``recipients`` through one SMTP server.

    Parameters
    ----------
    host, port
        The SMTP server (relay or submission port).
    mail_from
        Envelope and header sender.
    recipients
        Addresses that receive every notification sent through this channel.
    username, password
        Authenticate when ``username`` is set (after STARTTLS when ``starttls``).
    starttls
        Upgrade the connection with STARTTLS before authenticating and sending.
    ca_file
        PEM CA bundle that signs the server's certificate; empty: the system's CAs.
    timeout_s
        Socket timeout of one attempt.
    policy
        Retry policy.
    """

    kind = "email"

    def __init__(self, host: str, port: int, mail_from: str, recipients: Sequence[str], *, username: str = "",
                 password: str = "", starttls: bool = False, ca_file: str = "", timeout_s: float = 10.0,
                 policy: RetryPolicy | None = None, rng: random.Random | None = None) -> None:
        if not recipients:
            raise ValueError("an e-mail channel needs at least one recipient")
        key = "email#" + hashlib.sha256("\n".join(sorted(recipients)).encode()).hexdigest()[:12]
        super().__init__("email", policy=policy, key=key, rng=rng)
        self.host = host
        self.port = port
        self.mail_from = mail_from
        self.recipients = list(recipients)
        self._username = username
        self._password = password
        self._starttls = starttls
        self._ca_file = ca_file
        self._timeout_s = timeout_s

    async def attempt(self, notification: Notification) -> str:
        message = build_email(notification, self.mail_from, self.recipients)
        refused = await asyncio.to_thread(self._send_blocking, message)
        if not refused:
            return ""
        codes = ", ".join(sorted({str(code) for code, _ in refused.values()}))
        remark = f"{len(refused)} of {len(self.recipients)} recipient(s) refused (SMTP {codes})"
        logger.warning("notification %s via email: %s", notification.notification_id, remark)
        return remark

    def _send_blocking(self, message: EmailMessage) -> dict[str, tuple[int, bytes]]:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self._timeout_s) as smtp:
                smtp.ehlo()
                if self._starttls:
                    context = ssl.create_default_context(cafile=self._ca_file or None)
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if self._username:
                    smtp.login(self._username, self._password)
                return smtp.send_message(message, from_addr=self.mail_from, to_addrs=self.recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            raise DeliveryError(f"all recipients refused (SMTP {', '.join(map(str, codes))})",
                                retryable=all(400 <= c < 500 for c in codes)) from exc
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP {exc.smtp_code}", retryable=400 <= exc.smtp_code < 500) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"SMTP server lacks a needed extension: {exc}", retryable=False) from exc
        except ssl.SSLCertVerificationError as exc:
            raise DeliveryError(f"TLS certificate not trusted: {exc.verify_message}", retryable=False) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"connection error: {type(exc).__name__}", retryable=True) from exc
