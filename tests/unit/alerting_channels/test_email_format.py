"""E-mail subject and body: priority in words, the numbers, the note and link, no identifiers."""

from __future__ import annotations

from wardwatch.alerting.channels.base import headline
from wardwatch.alerting.channels.smtp_email import build_email

from .samples import HOSPITAL_ID, PATIENT_REF, make_notification

LINK = f"https://ward.example.org/patients/{PATIENT_REF}"


def _mail(**kw: object):  # type: ignore[no-untyped-def]
    return build_email(make_notification(**kw), "wardwatch@hospital.example", ["nurse-a@hospital.example", "nurse-b@hospital.example"])


def test_subject_says_priority_bed_ward_and_numbers() -> None:
    assert _mail()["Subject"] == "[HIGH] bed 07 ward-a: SpO2 84 % below 85 %"


def test_subject_marks_technical_worsened_and_escalated() -> None:
    assert headline(make_notification(kind="technical", priority="low", message="SpO2 probe off")) == "[LOW] TECHNICAL bed 07 ward-a: SpO2 probe off"
    assert headline(make_notification(reason="escalated")).startswith("[HIGH] ESCALATED bed 07 ward-a: ")
    assert headline(make_notification(reason="worsened", priority="medium")).startswith("[MEDIUM] WORSENED bed 07")


def test_subject_without_message_falls_back_to_the_evidence() -> None:
    subject = headline(make_notification(message=""))
    assert subject == "[HIGH] bed 07 ward-a: spo2_low (hr_bpm 112; spo2_pct 84; threshold spo2_low_pct 85)"


def test_subject_is_one_line_even_if_the_message_is_not() -> None:
    subject = _mail(message="SpO2 84 %\r\nBcc: attacker@example.org")["Subject"]
    assert "\n" not in subject and "\r" not in subject
    assert subject == "[HIGH] bed 07 ward-a: SpO2 84 % Bcc: attacker@example.org"


def test_body_holds_the_facts_note_and_link() -> None:
    msg = _mail(note="SpO2 fell from 95 % to 84 % over 10 minutes.", link=LINK)
    body = msg.get_content()
    for expected in ("HIGH priority physiological alarm, raised", "Ward ward-a, bed 07", PATIENT_REF,
                     "spo2_pct = 84", "hr_bpm = 112", "spo2_low_pct = 85", "news2.total = 7", "Signal quality: 0.93",
                     "Since: 2026-01-01 00:00:00 UTC (last update 2026-01-01 00:00:30 UTC)",
                     "Note:\nSpO2 fell from 95 % to 84 % over 10 minutes.", f"Open on the ward page:\n{LINK}\n"):
        assert expected in body, expected
    assert "Note:" not in _mail().get_content()


def test_headers() -> None:
    msg = _mail(nid="n-abc")
    assert msg["From"] == "wardwatch@hospital.example"
    assert msg["To"] == "nurse-a@hospital.example, nurse-b@hospital.example"
    assert msg["Message-ID"] == "<n-abc@hospital.example>"
    assert msg["X-WardWatch-Priority"] == "high" and msg["Importance"] == "high"
    assert msg["X-WardWatch-Alert-Id"].startswith("a-")
    assert _mail(priority="low")["Importance"] is None


def test_no_hospital_identifier_anywhere() -> None:
    raw = _mail(note="note", link=LINK).as_string()
    assert HOSPITAL_ID not in raw
    assert PATIENT_REF in raw
