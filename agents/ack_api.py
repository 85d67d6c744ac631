"""The acknowledgement HTTP API: a clinician acknowledges one alert; an ``AlarmAck`` goes to ``alert-acks``.

``POST /api/alerts/{alert_id}/ack`` with ``Authorization: Bearer <token>`` and a JSON body
``{"patient_ref": "p-...", "note": "optional, at most 500 characters"}``:

====== =============================================================================================
status when
====== =============================================================================================
202    the :class:`~wardwatch.streams.records.AlarmAck` is on the ``alert-acks`` topic (the alert
       agent applies it: it silences that alert only; an unknown or closed alert id changes nothing)
400    the body is not JSON
401    no bearer token, or one the configuration does not know (``WWW-Authenticate: Bearer``)
403    the token's role may not acknowledge (``viewer``); ``nurse`` and ``doctor`` may
415    the body is not ``application/json``
422    the JSON does not fit: a bad alert id or patient reference, a note too long, an unknown field —
       ``by_role`` and ``by_user`` come from the token, never from the body
503    Kafka did not take the acknowledgement; send it again
====== =============================================================================================

Every error is JSON: ``{"error": code, "message": text, "field": "$.patient_ref"}`` (``field``
where one is to blame). ``GET /api/health`` answers ``{"status": "ok"}`` without a token.

Tokens come from ``WARDWATCH_API_TOKENS`` (:class:`~wardwatch.config.ApiSettings`); the server
keeps only their SHA-256 digests and never logs a token, an ``Authorization`` header or a note
(free text). Logs name the alert id, the pseudonymous patient reference and staff id.

>>> from wardwatch.config import StaffToken
>>> api = AckApi({"nurse-token-0123456789": StaffToken("nurse", "staff-0042")}, sink=None, topic="wardwatch.alert-acks")
>>> sorted({r.resource.canonical for r in api.app.router.routes()})
['/api/alerts/{alert_id}/ack', '/api/health']
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, Protocol

import msgspec
from aiohttp import web

from wardwatch.config import ACK_ROLES, Settings, StaffToken
from wardwatch.errors import ConfigurationError, SchemaValidationError
from wardwatch.streams.records import AlarmAck, Record
from wardwatch.streams.topics import topic_name

__all__ = ["AckApi", "AckSink", "serve_api", "ACK_PATH"]

logger = logging.getLogger(__name__)

ACK_PATH = "/api/alerts/{alert_id}/ack"
_ALERT_ID = re.compile(r"^a-[0-9a-f]{24}$")
_FROM_TOKEN = ("by_role", "by_user")
_AT = re.compile(r" - at `(\$[^`]*)`$")


class AckSink(Protocol):
    """Where acknowledgements go (:class:`~wardwatch.streams.publish.RecordProducer` satisfies it)."""

    async def send_records(self, records: Iterable[Record], topic: str | None = None) -> int: ...


class _AckBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    patient_ref: Annotated[str, msgspec.Meta(pattern=r"^p-[0-9a-f]{20}$")]
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _error(status: int, code: str, message: str, field: str | None = None, headers: Mapping[str, str] | None = None) -> web.Response:
    body: dict[str, str] = {"error": code, "message": message}
    if field is not None:
        body["field"] = field
    return web.json_response(body, status=status, headers=headers)


class AckApi:
    """The aiohttp application of the acknowledgement API.

    Parameters
    ----------
    staff : mapping of str to StaffToken
        Bearer token → role and pseudonymous staff id (kept as SHA-256 digests only).
    sink : AckSink
        Sends records to Kafka and returns once Kafka has them.
    topic : str
        The ``alert-acks`` topic.
    clock_ns : callable, optional
        Wall clock in UTC epoch ns (the acknowledgement's ``at_ns``).
    """

    def __init__(self, staff: Mapping[str, StaffToken], sink: AckSink | None, topic: str, *,
                 clock_ns: Callable[[], int] = time.time_ns, max_body_bytes: int = 16_384) -> None:
        self._staff = {_digest(token): who for token, who in staff.items()}
        self._sink, self.topic, self._clock = sink, topic, clock_ns
        self.counters: Counter[str] = Counter()
        self.app = web.Application(client_max_size=max_body_bytes)
        self.app.add_routes([web.post(ACK_PATH, self._ack), web.get("/api/health", self._health)])
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 8081) -> None:
        """Listen on ``host:port`` (port 0: any free port; :attr:`port` says which)."""
        self._runner = web.AppRunner(self.app, access_log=None)  # no access log: it would show who called when
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- handlers ----------------------------------------------------------------------------
    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    def _who(self, request: web.Request) -> StaffToken | web.Response:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            self.counters["unauthorized"] += 1
            logger.warning("acknowledgement refused: no bearer token")
            return _error(401, "unauthorized", "send 'Authorization: Bearer <token>'",
                          headers={"WWW-Authenticate": 'Bearer realm="wardwatch"'})
        who = self._staff.get(_digest(token.strip()))
        if who is None:
            self.counters["unauthorized"] += 1
            logger.warning("acknowledgement refused: unknown bearer token")
            return _error(401, "unauthorized", "the bearer token is not valid",
                          headers={"WWW-Authenticate": 'Bearer realm="wardwatch", error="invalid_token"'})
        if who.role not in ACK_ROLES:
            self.counters["forbidden"] += 1
            logger.warning("acknowledgement refused: staff %s has role %s", who.user, who.role)
            return _error(403, "forbidden", f"role {who.role!r} may not acknowledge alarms (allowed: {', '.join(sorted(ACK_ROLES))})")
        return who

    async def _body(self, request: web.Request) -> _AckBody | web.Response:
        if request.content_type != "application/json":
            self.counters["invalid"] += 1
            return _error(415, "unsupported_media_type", f"send application/json, not {request.content_type[:60]!r}")
        raw = await request.read()
        try:
            doc = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            self.counters["invalid"] += 1
            return _error(400, "malformed_json", f"the body is not JSON: {exc}")
        if isinstance(doc, dict):
            named = [k for k in _FROM_TOKEN if k in doc]
            if named:
                self.counters["invalid"] += 1
                return _error(422, "invalid", f"{named[0]} comes from the bearer token, never from the body", f"$.{named[0]}")
        try:
            return msgspec.convert(doc, _AckBody)
        except msgspec.ValidationError as exc:
            self.counters["invalid"] += 1
            text = str(exc)
            at = _AT.search(text)
            return _error(422, "invalid", text[: at.start()] if at else text, at.group(1) if at else "$")

    async def _ack(self, request: web.Request) -> web.Response:
        who = self._who(request)
        if isinstance(who, web.Response):
            return who
        alert_id = request.match_info["alert_id"]
        if not _ALERT_ID.match(alert_id):
            self.counters["invalid"] += 1
            return _error(422, "invalid", "an alert id is 'a-' and 24 hex digits", "$.alert_id")
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        try:
            ack = AlarmAck(alert_id=alert_id, patient_ref=body.patient_ref, by_role=who.role, by_user=who.user,
                           at_ns=self._clock(), note=body.note)
        except SchemaValidationError as exc:
            self.counters["invalid"] += 1
            return _error(422, "invalid", exc.reason, exc.field)
        if self._sink is None:
            raise RuntimeError("AckApi has no sink")
        try:
            await self._sink.send_records([ack], topic=self.topic)
        except Exception as exc:  # Kafka did not take it: the client must send it again
            self.counters["failed"] += 1
            logger.error("could not send the acknowledgement of alert %s (%s)", alert_id, type(exc).__name__)
            return _error(503, "unavailable", f"the acknowledgement could not be stored ({type(exc).__name__}); send it again")
        self.counters["accepted"] += 1
        logger.info("alert %s of patient %s acknowledged by %s %s", alert_id, ack.patient_ref, who.role, who.user)
        return web.json_response({"status": "accepted", "alert_id": alert_id, "patient_ref": ack.patient_ref,
                                  "by_role": who.role, "by_user": who.user, "at_ns": ack.at_ns}, status=202)


async def serve_api(settings: Settings, *, host: str | None = None, port: int | None = None, stop: asyncio.Event | None = None,
                    on_ready: Callable[[AckApi], Any] | None = None) -> Counter[str]:
    """Run the API with a Kafka producer until ``stop`` is set; return its counters."""
    from wardwatch.streams.publish import RecordProducer

    staff = settings.api.staff()
    if not staff:
        raise ConfigurationError("WARDWATCH_API_TOKENS", "no bearer tokens configured: nobody could acknowledge",
                                 'set it to JSON such as {"<random token>": {"role": "nurse", "user": "staff-0042"}}')
    stop = stop or asyncio.Event()
    async with RecordProducer(settings.kafka) as producer:
        api = AckApi(staff, producer, topic_name(settings.kafka.topic_prefix, "acks"), max_body_bytes=settings.api.max_body_bytes)
        await api.start(host or settings.api.host, settings.api.port if port is None else port)
        roles = Counter(who.role for who in staff.values())
        logger.info("acknowledgement API on %s:%d, %s", host or settings.api.host, api.port,
                    ", ".join(f"{n} {role} token(s)" for role, n in sorted(roles.items())))
        if on_ready is not None:
            on_ready(api)
        try:
            await stop.wait()
        finally:
            await api.close()
    return api.counters
