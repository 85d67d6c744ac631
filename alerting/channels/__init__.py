"""Notification channels: signed webhook and SMTP e-mail, behind one contract, routed by tier.

>>> from wardwatch.alerting.channels import RetryPolicy
>>> RetryPolicy(max_attempts=3, backoff_s=1.0, jitter=0.0).delays_s()
[1.0, 2.0]
"""

from wardwatch.alerting.channels.base import Channel, DeliveryError, DeliveryResult, Notification, RetryPolicy, patient_link
from wardwatch.alerting.channels.router import NotificationRouter
from wardwatch.alerting.channels.smtp_email import SmtpEmailChannel
from wardwatch.alerting.channels.webhook import WebhookChannel, verify_signature

__all__ = [
    "Notification",
    "DeliveryResult",
    "DeliveryError",
    "RetryPolicy",
    "Channel",
    "patient_link",
    "WebhookChannel",
    "verify_signature",
    "SmtpEmailChannel",
    "NotificationRouter",
]
