"""Webhook signature, body and payload: what a receiver checks."""

from __future__ import annotations

import hashlib
import hmac
import json
import math

import msgspec

from wardwatch.alerting.channels.webhook import encode_body, sign, verify_signature, webhook_payload
from wardwatch.streams.records import Evidence

from .samples import HOSPITAL_ID, PATIENT_REF, make_notification

SECRET = b"webhook-secret-0123456789"
TS = "1767225600"
BODY = b'{"notification_id":"n-1"}'


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET, b"1767225600." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, TS, BODY) == f"sha256={expected}"
    assert sign(SECRET, int(TS), BODY) == sign(SECRET, TS, BODY)


def test_fresh_signature_verifies() -> None:
    header = sign(SECRET, TS, BODY)
    assert verify_signature(SECRET, TS, BODY, header, tolerance_s=300, now_s=int(TS) + 299)
    assert verify_signature(SECRET, TS, BODY, header, tolerance_s=300, now_s=int(TS) - 299)  # receiver's clock behind


def test_tampered_body_fails() -> None:
    header = sign(SECRET, TS, BODY)
    assert not verify_signature(SECRET, TS, BODY.replace(b"n-1", b"n-2"), header, now_s=int(TS))
    assert not verify_signature(SECRET, TS, BODY + b" ", header, now_s=int(TS))


def test_wrong_secret_fails() -> None:
    header = sign(b"another-secret-0123456789", TS, BODY)
    assert not verify_signature(SECRET, TS, BODY, header, now_s=int(TS))


def test_stale_or_future_timestamp_fails() -> None:
    header = sign(SECRET, TS, BODY)
    assert not verify_signature(SECRET, TS, BODY, header, tolerance_s=300, now_s=int(TS) + 301)
    assert not verify_signature(SECRET, TS, BODY, header, tolerance_s=300, now_s=int(TS) - 301)


def test_timestamp_is_part_of_the_signed_text() -> None:
    header = sign(SECRET, TS, BODY)
    assert not verify_signature(SECRET, "1767225601", BODY, header, now_s=int(TS))


def test_malformed_headers_fail() -> None:
    header = sign(SECRET, TS, BODY)
    assert not verify_signature(SECRET, TS, BODY, header.removeprefix("sha256="), now_s=int(TS))
    assert not verify_signature(SECRET, "17672256e2", BODY, header, now_s=int(TS))
    assert not verify_signature(SECRET, TS, BODY, "sha256=", now_s=int(TS))


def test_body_is_stable_json_with_the_alert_facts() -> None:
    n = make_notification(note="SpO2 fell from 95 % to 84 % in 10 min.", link=f"http://ward.example/patients/{PATIENT_REF}")
    body = encode_body(n)
    assert body == encode_body(n)  # same bytes on every attempt
    doc = json.loads(body)
    assert doc["notification_id"] == "n-0001"
    assert doc["tier"] == "bedside_nurse" and doc["reason"] == "raised"
    assert doc["headline"] == "[HIGH] bed 07 ward-a: SpO2 84 % below 85 %"
    assert doc["link"].endswith(f"/patients/{PATIENT_REF}")
    assert doc["note"].startswith("SpO2 fell")
    alert = doc["alert"]
    assert alert["patient_ref"] == PATIENT_REF and alert["bed"] == "07" and alert["priority"] == "high"
    assert alert["evidence"]["values"] == {"hr_bpm": 112.0, "spo2_pct": 84.0}
    assert alert["evidence"]["thresholds"] == {"spo2_low_pct": 85.0}
    assert alert["evidence"]["signal_quality"] == 0.93


def test_payload_has_no_hospital_identifier_and_no_nan() -> None:
    n = make_notification()
    assert HOSPITAL_ID not in encode_body(n).decode()
    nan_alert = msgspec.structs.replace(n.alert, evidence=Evidence(values={"spo2_pct": math.nan}))
    payload = webhook_payload(msgspec.structs.replace(n, alert=nan_alert))
    assert payload["alert"]["evidence"]["values"] == {"spo2_pct": None}
    json.dumps(payload, allow_nan=False)
