"""The ward page's HTTP server on loopback: logins and sessions, JSON, server-sent events, acknowledgements.

Kafka is not needed here: the state is filled directly, and acknowledgements go to an in-memory
:class:`~wardwatch.agents.ack_api.AckSink` (the browser tests send them through the real Kafka).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from wardwatch.agents.ack_api import AckApi
from wardwatch.config import StaffToken
from wardwatch.dashboards.ward.auth import COOKIE, Sessions
from wardwatch.dashboards.ward.server import WardPage
from wardwatch.dashboards.ward.state import WardState
from wardwatch.streams.records import AlarmAck, Alert, Record, alert_id

from .test_ward_state import REF, T0, alert, obs

STAFF = {"nurse-token-0123456789": StaffToken("nurse", "staff-0042"), "viewer-token-0123456789": StaffToken("viewer", "staff-0099")}


class ListSink:
    def __init__(self) -> None:
        self.sent: list[tuple[Record, str | None]] = []

    async def send_records(self, records: Iterable[Record], topic: str | None = None) -> int:
        records = list(records)
        self.sent.extend((r, topic) for r in records)
        return len(records)


def _page() -> tuple[WardPage, ListSink, Alert]:
    state = WardState("ward-a")
    state.apply(obs("MDC_ECG_HEART_RATE", "/min", 72.0))
    a = alert("spo2.low", "high", "active")
    state.apply(a)
    sink = ListSink()
    page = WardPage(state, Sessions(STAFF), AckApi(STAFF, sink, "test.alert-acks"), push_interval_s=0.05)
    return page, sink, a


async def _login(client: TestClient, token: str) -> aiohttp.ClientResponse:
    return await client.post("/login", data={"token": token}, allow_redirects=False)


def test_login_required_then_cookie_session_and_logout() -> None:
    async def main() -> None:
        page, _, _ = _page()
        async with TestClient(TestServer(page.app)) as client:
            r = await client.get("/", allow_redirects=False)
            assert r.status == 302 and r.headers["Location"] == "/login"
            assert (await client.get("/api/ward")).status == 401
            assert (await client.get("/api/events")).status == 401
            form = await client.get("/login")
            assert form.status == 200 and 'name="token"' in await form.text()
            bad = await _login(client, "not-a-token-at-all")
            assert bad.status == 401 and "not valid" in await bad.text()
            ok = await _login(client, "nurse-token-0123456789")
            assert ok.status == 303 and ok.headers["Location"] == "/"
            cookie = ok.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "nurse-token" not in cookie
            ward = await (await client.get("/api/ward")).json()
            assert ward["me"] == {"role": "nurse", "user": "staff-0042", "can_ack": True}
            assert [b["bed"] for b in ward["beds"]] == ["01"] and ward["beds"][0]["alarms"][0]["priority"] == "high"
            index = await client.get("/")
            assert index.status == 200 and "ward.js" in await index.text()
            assert "default-src 'self'" in index.headers["Content-Security-Policy"]
            detail = await (await client.get("/api/beds/01")).json()
            assert detail["summary"]["bed"] == "01" and detail["alerts"][0]["source"] == "spo2.low"
            assert (await client.get("/api/beds/09")).status == 404
            out = await client.post("/logout", allow_redirects=False)
            assert out.status == 303 and len(page.sessions) == 0
            client.session.cookie_jar.update_cookies({COOKIE: "forged-or-ended"})
            assert (await client.get("/api/ward")).status == 401

    asyncio.run(main())


def test_acknowledge_goes_through_the_ack_api_with_the_session_role() -> None:
    async def main() -> None:
        page, sink, a = _page()
        body = {"patient_ref": REF}
        async with TestClient(TestServer(page.app)) as viewer, TestClient(TestServer(page.app)) as nurse:
            assert (await viewer.post(f"/api/alerts/{a.alert_id}/ack", json=body)).status == 401  # no session
            await _login(viewer, "viewer-token-0123456789")
            refused = await viewer.post(f"/api/alerts/{a.alert_id}/ack", json=body)
            assert refused.status == 403 and (await refused.json())["error"] == "forbidden"
            await _login(nurse, "nurse-token-0123456789")
            foreign = await nurse.post(f"/api/alerts/{a.alert_id}/ack", json=body, headers={"Origin": "http://evil.example"})
            assert foreign.status == 403
            bad = await nurse.post(f"/api/alerts/{a.alert_id}/ack", json={"patient_ref": "Jane Doe"})
            assert bad.status == 422 and (await bad.json())["field"] == "$.patient_ref"
            ok = await nurse.post(f"/api/alerts/{a.alert_id}/ack", json=body, headers={"Origin": str(nurse.make_url("")).rstrip("/")})
            assert ok.status == 202, await ok.text()
        assert len(sink.sent) == 1
        ack, topic = sink.sent[0]
        assert isinstance(ack, AlarmAck) and topic == "test.alert-acks"
        assert (ack.alert_id, ack.patient_ref, ack.by_role, ack.by_user) == (a.alert_id, REF, "nurse", "staff-0042")

    asyncio.run(main())


def test_events_stream_a_snapshot_then_changed_tiles() -> None:
    async def main() -> None:
        page, _, a = _page()
        async with TestClient(TestServer(page.app)) as client:
            await _login(client, "nurse-token-0123456789")
            r = await client.get("/api/events")
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/event-stream")
            events: list[tuple[str, dict]] = []

            async def read_until(name: str) -> dict:
                kind = None
                while True:
                    line = (await asyncio.wait_for(r.content.readline(), timeout=5)).decode().rstrip("\n")
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: "):
                        events.append((kind or "", json.loads(line[6:])))
                        if kind == name:
                            return events[-1][1]

            snapshot = await read_until("snapshot")
            assert events[0][0] == "me" and events[0][1]["role"] == "nurse"
            assert snapshot["ward"] == "ward-a" and snapshot["beds"][0]["alarms"][0]["state"] == "active"
            acked = Alert(**{**{f: getattr(a, f) for f in a.__struct_fields__}, "state": "acknowledged", "updated_ns": T0 + 10**9})
            page.changed(page.state.apply(acked) or "")
            update = await read_until("beds")
            assert update["beds"][0]["alarms"][0]["state"] == "acknowledged"
            assert update["beds"][0]["alarms"][0]["alert_id"] == alert_id(REF, "spo2.low", T0)
            r.close()

    asyncio.run(main())


def test_sessions_expire() -> None:
    now = [0.0]
    sessions = Sessions(STAFF, ttl_s=60, clock=lambda: now[0])
    sid = sessions.login(" nurse-token-0123456789 ")
    assert sid is not None and sessions.get(sid) is not None and sessions.get(sid).can_ack  # type: ignore[union-attr]
    viewer = sessions.login("viewer-token-0123456789")
    assert viewer is not None and not sessions.get(viewer).can_ack  # type: ignore[union-attr]
    now[0] = 61.0
    assert sessions.get(sid) is None and sessions.get(None) is None
