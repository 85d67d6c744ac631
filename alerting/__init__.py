"""Alarm rules, IEC 60601-1-8 priorities, the alarm state machine, escalation, channels, audit log.

The pure core: :func:`load_config` reads a ward's rules (YAML, validated), a
:class:`PatientAlarmEngine` per patient turns records and ticks into
:class:`~wardwatch.streams.records.Alert` records and :class:`NotificationRequest` records, and
acknowledgements (:class:`~wardwatch.streams.records.AlarmAck`) silence one alert each.
``docs/alarm-rules.md`` describes the rules and the defaults.
"""

from wardwatch.alerting.config import AlarmConfig, load_config, load_config_text
from wardwatch.alerting.engine import PatientAlarmEngine
from wardwatch.alerting.escalation import NotificationRequest, notification_id
from wardwatch.alerting.rules import VerifierRequest
from wardwatch.alerting.state import AlarmOutput

__all__ = [
    "AlarmConfig",
    "load_config",
    "load_config_text",
    "PatientAlarmEngine",
    "AlarmOutput",
    "NotificationRequest",
    "notification_id",
    "VerifierRequest",
]
