"""Alerts and notifications for the channel and alarm-log tests."""

from __future__ import annotations

from wardwatch.alerting.channels import Notification
from wardwatch.streams.pseudonym import pseudonymize
from wardwatch.streams.records import Alert, Evidence, alert_id

from ...conftest import TEST_SECRET

#: The hospital identifier behind the sample patient: it must never appear in a notification.
HOSPITAL_ID = "MRN-0042-7731"
PATIENT_REF = pseudonymize(HOSPITAL_ID, TEST_SECRET.encode())
ONSET_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


def make_alert(*, ref: str = PATIENT_REF, bed: str = "07", ward: str = "ward-a", source: str = "spo2_low",
               priority: str = "high", kind: str = "physiological", onset_ns: int = ONSET_NS,
               message: str = "SpO2 84 % below 85 %") -> Alert:
    return Alert(
        alert_id=alert_id(ref, source, onset_ns), patient_ref=ref, ward=ward, bed=bed, kind=kind,  # type: ignore[arg-type]
        priority=priority, source=source, onset_ns=onset_ns, updated_ns=onset_ns + 30_000_000_000,  # type: ignore[arg-type]
        state="active", message=message,
        evidence=Evidence(values={"spo2_pct": 84.0, "hr_bpm": 112.0}, thresholds={"spo2_low_pct": 85.0},
                          scores={"news2.total": 7.0}, signal_quality=0.93),
    )


def make_notification(*, nid: str = "n-0001", tier: str = "bedside_nurse", reason: str = "raised", note: str = "",
                      link: str = "", **alert_kw: object) -> Notification:
    return Notification(notification_id=nid, alert=make_alert(**alert_kw), tier=tier, reason=reason, note=note, link=link)  # type: ignore[arg-type]
