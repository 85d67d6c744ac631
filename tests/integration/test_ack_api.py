"""The acknowledgement HTTP API over real HTTP into the real Kafka: statuses, the record on the topic, the CLI.

Also, without services: the token table in ``WARDWATCH_API_TOKENS`` is validated and never echoed.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from typing import Any

import aiohttp
import pytest
import requests
from kafka import KafkaConsumer

from wardwatch.agents.ack_api import AckApi
from wardwatch.config import StaffToken, load_settings
from wardwatch.errors import ConfigurationError
from wardwatch.streams.codec import decode
from wardwatch.streams.publish import RecordProducer
from wardwatch.streams.records import AlarmAck, alert_id

from .conftest import Isolated, free_port, wait_for

NURSE, DOCTOR, VIEWER = "nurse-token-3f9c2a71d0b84e55", "doctor-token-8e1b7c40a2f95d36", "viewer-token-61d0e9b3c7a24f18"
STAFF = {NURSE: StaffToken("nurse", "staff-0042"), DOCTOR: StaffToken("doctor", "staff-0107"), VIEWER: StaffToken("viewer", "staff-0300")}
P = "p-0123456789abcdef0123"
ALERT = alert_id(P, "spo2.low", 1_790_000_000_000_000_000)
Reply = tuple[int, dict[str, Any], dict[str, str]]


def _acks_on_topic(isolated: Isolated, idle_s: float = 3.0) -> list[Any]:
    """Everything on the test's acks topic (reads until the topic has been quiet for ``idle_s``)."""
    consumer = KafkaConsumer(isolated.topics["acks"], bootstrap_servers=isolated.settings.kafka.bootstrap_servers,
                             auto_offset_reset="earliest", consumer_timeout_ms=int(idle_s * 1000), group_id=None)
    try:
        return list(consumer)
    finally:
        consumer.close()

def _post_all(isolated: Isolated, calls: list[tuple[str, dict[str, str], bytes]]) -> list[Reply]:
    async def scenario() -> list[Reply]:
        async with RecordProducer(isolated.settings.kafka) as producer:
            api = AckApi(STAFF, producer, isolated.topics["acks"])
            await api.start("127.0.0.1", 0)
            try:
                replies = []
                async with aiohttp.ClientSession() as session:
                    for path, headers, body in calls:
                        async with session.post(f"http://127.0.0.1:{api.port}{path}", data=body, headers=headers) as r:
                            replies.append((r.status, await r.json(content_type=None), dict(r.headers)))
                return replies
            finally:
                await api.close()

    return asyncio.run(scenario())


def _json(token: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def test_acknowledgements_go_to_the_acks_topic_and_bad_requests_do_not(isolated: Isolated) -> None:
    path = f"/api/alerts/{ALERT}/ack"
    good = json.dumps({"patient_ref": P}).encode()
    before = time.time_ns()
    replies = _post_all(isolated, [
        (path, _json(NURSE), good),                                                               # 0 nurse: 202
        (path, _json(DOCTOR), json.dumps({"patient_ref": P, "note": "checked the probe"}).encode()),  # 1 doctor: 202
        (path, _json(None), good),                                                                # 2 no token: 401
        (path, _json("not-a-known-token-at-all-0000"), good),                                     # 3 bad token: 401
        (path, {"Content-Type": "application/json", "Authorization": f"Basic {NURSE}"}, good),    # 4 wrong scheme: 401
        (path, _json(VIEWER), good),                                                              # 5 viewer: 403
        (path, _json(NURSE), b'{"patient_ref": '),                                                # 6 not JSON: 400
        (path, _json(NURSE), b"{}"),                                                              # 7 no patient_ref: 422
        (path, _json(NURSE), json.dumps({"patient_ref": "Jane Doe"}).encode()),                   # 8 not a reference: 422
        (path, _json(NURSE), json.dumps({"patient_ref": P, "by_role": "doctor"}).encode()),       # 9 role in body: 422
        (path, _json(NURSE), json.dumps({"patient_ref": P, "note": "x" * 501}).encode()),         # 10 note too long: 422
        ("/api/alerts/a-123/ack", _json(NURSE), good),                                            # 11 bad alert id: 422
        (path, {"Content-Type": "text/plain", "Authorization": f"Bearer {NURSE}"}, good),         # 12 not JSON media: 415
    ])
    after = time.time_ns()
    statuses = [r[0] for r in replies]
    assert statuses == [202, 202, 401, 401, 401, 403, 400, 422, 422, 422, 422, 422, 415], replies
    assert replies[0][1] == {"status": "accepted", "alert_id": ALERT, "patient_ref": P, "by_role": "nurse", "by_user": "staff-0042",
                             "at_ns": replies[0][1]["at_ns"]}
    for i in (2, 3, 4):
        assert replies[i][1]["error"] == "unauthorized" and replies[i][2]["WWW-Authenticate"].startswith("Bearer")
    assert "invalid_token" in replies[3][2]["WWW-Authenticate"]
    assert replies[5][1]["error"] == "forbidden" and "viewer" in replies[5][1]["message"]
    assert replies[6][1]["error"] == "malformed_json"
    assert [replies[i][1]["field"] for i in (7, 8, 9, 10, 11)] == ["$", "$.patient_ref", "$.by_role", "$.note", "$.alert_id"]
    assert "patient_ref" in replies[7][1]["message"] and "bearer token" in replies[9][1]["message"]

    messages = _acks_on_topic(isolated)
    assert len(messages) == 2, "only the two accepted acknowledgements may be on the topic"
    acks = [decode(m.value, AlarmAck) for m in messages]
    assert all(m.key == P.encode() for m in messages)
    assert [(a.alert_id, a.patient_ref, a.by_role, a.by_user, a.note) for a in acks] == [
        (ALERT, P, "nurse", "staff-0042", ""), (ALERT, P, "doctor", "staff-0107", "checked the probe")]
    assert all(before <= a.at_ns <= after for a in acks) and acks[0].at_ns == replies[0][1]["at_ns"]




def test_cli_api_serve_takes_tokens_from_the_environment_and_never_prints_them(isolated: Isolated) -> None:
    port = free_port()
    env = {**isolated.env, "WARDWATCH_API_TOKENS": json.dumps({NURSE: {"role": "nurse", "user": "staff-0042"},
                                                                VIEWER: {"role": "viewer", "user": "staff-0300"}})}
    proc = subprocess.Popen([sys.executable, "-m", "wardwatch", "api", "serve", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}/api"
    try:
        def up() -> bool:
            assert proc.poll() is None, "the API exited"
            try:
                return requests.get(f"{base}/health", timeout=5).json() == {"status": "ok"}
            except requests.ConnectionError:
                return False

        wait_for(up, timeout=60, what="the acknowledgement API to answer")
        url = f"{base}/alerts/{ALERT}/ack"
        viewer = requests.post(url, json={"patient_ref": P}, headers={"Authorization": f"Bearer {VIEWER}"}, timeout=10)
        nurse = requests.post(url, json={"patient_ref": P}, headers={"Authorization": f"Bearer {NURSE}"}, timeout=10)
        assert (viewer.status_code, nurse.status_code) == (403, 202), (viewer.text, nurse.text)
        (message,) = _acks_on_topic(isolated)
        ack = decode(message.value, AlarmAck)
        assert (ack.alert_id, ack.patient_ref, ack.by_role, ack.by_user) == (ALERT, P, "nurse", "staff-0042")
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output
    assert f"listening on 127.0.0.1:{port}" in output and "accepted 1" in output and "forbidden 1" in output
    assert NURSE not in output and VIEWER not in output


@pytest.mark.parametrize("tokens, problem", [
    ("not json", "not JSON"),
    ('["a list"]', "JSON object"),
    ('{"short": {"role": "nurse", "user": "staff-1"}}', "token 1: a token needs at least 16 characters"),
    ('{"long-enough-token-0001": {"role": "admin", "user": "staff-1"}}', "role 'admin' is not one of nurse, doctor, viewer"),
    ('{"long-enough-token-0001": {"role": "nurse", "user": "Jane Doe"}}', "pseudonymous staff id"),
    ('{"long-enough-token-0001": {"role": "nurse"}}', "token 1: the value must be"),
])
def test_bad_token_tables_stop_with_the_variable_and_never_echo_the_tokens(monkeypatch: pytest.MonkeyPatch, tokens: str,
                                                                           problem: str) -> None:
    monkeypatch.setenv("WARDWATCH_API_TOKENS", tokens)
    with pytest.raises(ConfigurationError) as err:
        load_settings()
    assert err.value.setting == "WARDWATCH_API_TOKENS" and problem in str(err.value)
    assert "long-enough-token-0001" not in str(err.value) and "\"short\"" not in str(err.value)


def test_good_token_tables_are_parsed_and_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    from wardwatch.config import describe_settings

    monkeypatch.setenv("WARDWATCH_API_TOKENS", json.dumps({NURSE: {"role": "nurse", "user": "staff-0042"}}))
    settings = load_settings()
    assert settings.api.staff() == {NURSE: StaffToken("nurse", "staff-0042")} and settings.api.port == 8081
    rows = {name: value for name, value, _ in describe_settings(settings)}
    assert rows["WARDWATCH_API_TOKENS"] == "********" and NURSE not in repr(settings.api)


def test_an_acknowledgement_through_the_api_silences_the_alarm_in_the_worker(isolated: Isolated, worker: Any) -> None:
    """End to end: a desaturation raises an alarm in the real worker; the nurse acknowledges it over HTTP."""
    from kafka import KafkaProducer

    from wardwatch.streams.codec import encode
    from wardwatch.streams.pseudonym import pseudonymize
    from wardwatch.streams.records import Alert, NumericObservation

    from ..conftest import TEST_SECRET

    ref = pseudonymize("MRN-ACK-API-1", TEST_SECRET.encode())
    producer = KafkaProducer(bootstrap_servers=isolated.settings.kafka.bootstrap_servers, acks="all")
    now = time.time_ns()
    for k in range(40):  # 10 s at 97 %, then 30 s at 84 %, ending now
        obs = NumericObservation(patient_ref=ref, ward="ward-a", bed="07", device_id="mon-07", signal="MDC_PULS_OXIM_SAT_O2",
                                 unit="%", timestamp_ns=now - (40 - k) * 10**9, value=97.0 if k < 10 else 84.0)
        producer.send(isolated.topics["numerics"], key=ref.encode(), value=encode(obs))
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(isolated.topics["alerts"], bootstrap_servers=isolated.settings.kafka.bootstrap_servers,
                             auto_offset_reset="earliest", consumer_timeout_ms=300, group_id=None)
    alerts: list[Alert] = []

    def poll() -> list[Alert]:
        alerts.extend(decode(m.value, Alert) for m in consumer)
        return [a for a in alerts if a.source == "spo2.low"]

    try:
        spo2 = wait_for(poll, timeout=120, what="the SpO2 alarm")[0]
        (status, body, _), = _post_all(isolated, [(f"/api/alerts/{spo2.alert_id}/ack", _json(NURSE),
                                                    json.dumps({"patient_ref": ref}).encode())])
        assert status == 202, body
        wait_for(lambda: any(a.state == "acknowledged" for a in poll()), timeout=60, what="the acknowledged alert")
        acked = [a for a in poll() if a.state == "acknowledged"]
        assert {a.alert_id for a in acked} == {spo2.alert_id} and worker.alive()
    finally:
        consumer.close()
