"""The ward page's HTTP server (aiohttp): the page, its JSON, its live feed, logins and acknowledgements.

====================================== ==================================================================
route                                  what
====================================== ==================================================================
``GET /``                              the ward page (no session: redirect to ``/login``)
``GET /login``, ``POST /login``        the login form: a staff token in, an HttpOnly session cookie out
``POST /logout``                       ends the session
``GET /api/ward``                      every bed's tile as JSON, and who is logged in
``GET /api/beds/{bed}``                one bed: trends, waveform strip, alarms with evidence and notes
``GET /api/events``                    server-sent events: ``snapshot`` first, then ``beds`` (changed tiles)
``POST /api/alerts/{alert_id}/ack``    acknowledge: handed to :class:`~wardwatch.agents.ack_api.AckApi`
                                       with the session's token (viewer: 403), so an
                                       :class:`~wardwatch.streams.records.AlarmAck` goes to ``alert-acks``
``GET /api/health``                    no login: whether the feed has caught up, how many beds
====================================== ==================================================================

Every ``/api`` answer without a session is ``401`` JSON. A ``POST`` whose ``Origin`` is another site
is refused (``403``); the session cookie is also ``SameSite=Strict``.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from multidict import CIMultiDict

from wardwatch.agents.ack_api import AckApi

from .auth import COOKIE, Session, Sessions
from .state import WardState

__all__ = ["WardPage", "STATIC_DIR"]

logger = logging.getLogger(__name__)

STATIC_DIR = Path(str(resources.files("wardwatch.dashboards.ward") / "static"))
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class WardPage:
    """The ward page application.

    Parameters
    ----------
    state : WardState
        What the page shows (filled by a :class:`~wardwatch.dashboards.ward.feed.WardFeed`).
    sessions : Sessions
        Logins.
    ack_api : AckApi
        Where acknowledgements go (it checks the token's role and sends the ``AlarmAck``).
    is_ready : callable, optional
        Whether the feed has caught up (for ``/api/health``).
    push_interval_s : float
        Changed tiles are pushed to browsers at most this often.
    secure_cookie : bool
        Mark the cookie ``Secure`` (behind HTTPS).
    """

    def __init__(self, state: WardState, sessions: Sessions, ack_api: AckApi, *, is_ready: Callable[[], bool] = lambda: True,
                 push_interval_s: float = 0.5, secure_cookie: bool = False) -> None:
        self.state, self.sessions, self.ack_api = state, sessions, ack_api
        self._is_ready, self._push_s, self._secure = is_ready, push_interval_s, secure_cookie
        self._dirty: set[str] = set()
        self._clients: set[asyncio.Queue[bytes | None]] = set()
        self._pusher: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.app = web.Application(middlewares=[self._guard], client_max_size=16_384)
        self.app.add_routes([
            web.get("/", self._index), web.get("/login", self._login_form), web.post("/login", self._login),
            web.post("/logout", self._logout), web.get("/api/ward", self._ward), web.get("/api/beds/{bed}", self._bed),
            web.get("/api/events", self._events), web.post("/api/alerts/{alert_id}/ack", self._ack),
            web.get("/api/health", self._health), web.get("/favicon.ico", self._no_icon),
        ])
        self.app.router.add_static("/static/", STATIC_DIR, append_version=False)
        self.app.on_startup.append(self._start_pusher)
        self.app.on_shutdown.append(self._shutdown)

    # -- feed side ----------------------------------------------------------------------------
    def changed(self, bed: str) -> None:
        """Mark a bed's tile as changed (the feed calls this)."""
        self._dirty.add(bed)

    async def _start_pusher(self, app: web.Application) -> None:
        self._pusher = asyncio.create_task(self._push_loop(), name="ward-page-push")

    async def _push_loop(self) -> None:
        while True:
            await asyncio.sleep(self._push_s)
            if not self._dirty or not self._clients:
                continue
            beds, self._dirty = sorted(self._dirty), set()
            payload = _sse("beds", {"now_ns": time.time_ns(), "beds": [self.state.summary(b) for b in beds if b in self.state.beds]})
            for queue in list(self._clients):
                if queue.full():  # a browser that stopped reading: it gets a fresh snapshot when it reads again
                    while not queue.empty():
                        queue.get_nowait()
                    queue.put_nowait(self._snapshot_event())
                else:
                    queue.put_nowait(payload)

    async def _shutdown(self, app: web.Application) -> None:
        if self._pusher is not None:
            self._pusher.cancel()
        for queue in list(self._clients):
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(None)

    # -- plumbing -----------------------------------------------------------------------------
    def _session(self, request: web.Request) -> Session | None:
        return self.sessions.get(request.cookies.get(COOKIE))

    @web.middleware
    async def _guard(self, request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if request.method == "POST" and origin and origin != "null" and urlsplit(origin).netloc != request.host:
            return web.json_response({"error": "forbidden", "message": "cross-site request refused"}, status=403)
        response = await handler(request)
        for key, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    @staticmethod
    def _unauthorized() -> web.Response:
        return web.json_response({"error": "unauthorized", "message": "log in at /login"}, status=401)

    def _me(self, session: Session) -> dict[str, Any]:
        return {"role": session.who.role, "user": session.who.user, "can_ack": session.can_ack}

    def _snapshot_event(self) -> bytes:
        return _sse("snapshot", {"ward": self.state.ward, "now_ns": time.time_ns(), "beds": self.state.ward_summary()})

    # -- pages --------------------------------------------------------------------------------
    async def _index(self, request: web.Request) -> web.StreamResponse:
        if self._session(request) is None:
            raise web.HTTPFound("/login")
        return web.FileResponse(STATIC_DIR / "index.html", headers={"Content-Type": "text/html; charset=utf-8"})

    def _login_page(self, error: str = "", status: int = 200) -> web.Response:
        text = (STATIC_DIR / "login.html").read_text()
        shown = f'<p class="login-error" role="alert">&#9888; {html.escape(error)}</p>' if error else ""
        text = text.replace("{{error}}", shown).replace("{{ward}}", html.escape(self.state.ward))
        return web.Response(text=text, content_type="text/html", status=status)

    async def _login_form(self, request: web.Request) -> web.Response:
        return self._login_page()

    async def _login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        token = str(form.get("token", ""))
        sid = self.sessions.login(token) if token.strip() else None
        if sid is None:
            return self._login_page("That token is not valid. Ask the ward's administrator for yours.", status=401)
        response = web.HTTPSeeOther("/")
        response.set_cookie(COOKIE, sid, httponly=True, samesite="Strict", secure=self._secure, path="/",
                            max_age=int(self.sessions.ttl_s))
        raise response

    async def _logout(self, request: web.Request) -> web.StreamResponse:
        self.sessions.logout(request.cookies.get(COOKIE))
        response = web.HTTPSeeOther("/login")
        response.del_cookie(COOKIE, path="/")
        raise response

    # -- JSON ---------------------------------------------------------------------------------
    async def _no_icon(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "feed": "live" if self._is_ready() else "catching up",
                                  "beds": len(self.state.beds)})

    async def _ward(self, request: web.Request) -> web.Response:
        session = self._session(request)
        if session is None:
            return self._unauthorized()
        return web.json_response({"ward": self.state.ward, "now_ns": time.time_ns(), "me": self._me(session),
                                  "beds": self.state.ward_summary()})

    async def _bed(self, request: web.Request) -> web.Response:
        if self._session(request) is None:
            return self._unauthorized()
        bed = request.match_info["bed"]
        if bed not in self.state.beds:
            return web.json_response({"error": "not_found", "message": f"no bed {bed[:16]!r} on this ward"}, status=404)
        return web.json_response({"now_ns": time.time_ns(), **self.state.detail(bed)})

    async def _events(self, request: web.Request) -> web.StreamResponse:
        session = self._session(request)
        if session is None:
            return self._unauthorized()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                               "X-Accel-Buffering": "no"})
        await response.prepare(request)
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=50)
        self._clients.add(queue)
        try:
            await response.write(_sse("me", self._me(session)) + self._snapshot_event())
            while True:
                try:
                    payload = await asyncio.wait_for(queue.get(), timeout=15)
                except TimeoutError:
                    payload = b": keep-alive\n\n"
                if payload is None:
                    break
                if self._session(request) is None:  # logged out or expired meanwhile
                    await response.write(_sse("logout", {}))
                    break
                await response.write(payload)
        except (ConnectionResetError, ConnectionError):
            pass
        finally:
            self._clients.discard(queue)
        return response

    async def _ack(self, request: web.Request) -> web.StreamResponse:
        session = self._session(request)
        if session is None:
            return self._unauthorized()
        headers = CIMultiDict(request.headers)
        headers["Authorization"] = f"Bearer {session.token}"
        forwarded = request.clone(headers=headers)
        match = await self.ack_api.app.router.resolve(forwarded)
        return await match.handler(forwarded)

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 8090) -> None:
        """Listen on ``host:port`` (port 0: any free port; :attr:`port` says which)."""
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
