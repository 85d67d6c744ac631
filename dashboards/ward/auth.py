"""Logins of the ward page: a staff token in, an HttpOnly session cookie out.

The tokens are those of the acknowledgement API (``WARDWATCH_API_TOKENS``: token → role and
pseudonymous staff id). A login exchanges a token for a random session id; the browser keeps only
that id, in an ``HttpOnly``, ``SameSite=Strict`` cookie, so page scripts never see the token.
Sessions live in memory and end after ``ttl_s`` or on logout (a restarted page asks again).
The token is kept with its session only to hand acknowledgements to
:class:`~wardwatch.agents.ack_api.AckApi`, which checks it as it checks any bearer token; it is
never logged and never sent back.

>>> from wardwatch.config import StaffToken
>>> sessions = Sessions({"nurse-token-0123456789": StaffToken("nurse", "staff-0042")}, ttl_s=60)
>>> sid = sessions.login("nurse-token-0123456789")
>>> sessions.get(sid).who.role
'nurse'
>>> sessions.login("wrong") is None
True
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from wardwatch.config import ACK_ROLES, StaffToken

__all__ = ["Session", "Sessions", "COOKIE"]

logger = logging.getLogger(__name__)

#: Name of the session cookie.
COOKIE = "wardwatch_session"


@dataclass(frozen=True)
class Session:
    """One logged-in browser: who, with which token, until when (monotonic seconds)."""

    who: StaffToken
    token: str
    expires: float

    @property
    def can_ack(self) -> bool:
        return self.who.role in ACK_ROLES


class Sessions:
    """The page's sessions, in memory.

    Parameters
    ----------
    staff : mapping of str to StaffToken
        The configured tokens.
    ttl_s : float
        A session's lifetime, seconds.
    clock : callable, optional
        Monotonic seconds (tests pass their own).
    """

    def __init__(self, staff: Mapping[str, StaffToken], ttl_s: float = 12 * 3600, clock: Callable[[], float] = time.monotonic) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self._staff = {hashlib.sha256(token.encode()).digest(): (token, who) for token, who in staff.items()}
        self.ttl_s, self._clock = ttl_s, clock
        self._sessions: dict[str, Session] = {}

    def login(self, token: str) -> str | None:
        """A new session id for a known token, or ``None``."""
        digest = hashlib.sha256(token.strip().encode()).digest()
        match = next((v for d, v in self._staff.items() if hmac.compare_digest(d, digest)), None)
        if match is None:
            logger.warning("ward page login refused: unknown token")
            return None
        self._expire()
        sid = secrets.token_urlsafe(32)
        self._sessions[sid] = Session(match[1], match[0], self._clock() + self.ttl_s)
        logger.info("ward page login: %s %s", match[1].role, match[1].user)
        return sid

    def get(self, sid: str | None) -> Session | None:
        """The live session of ``sid``, or ``None`` (unknown or expired)."""
        if not sid:
            return None
        session = self._sessions.get(sid)
        if session is None:
            return None
        if session.expires <= self._clock():
            del self._sessions[sid]
            return None
        return session

    def logout(self, sid: str | None) -> None:
        """End the session of ``sid`` (nothing if there is none)."""
        if sid:
            self._sessions.pop(sid, None)

    def _expire(self) -> None:
        now = self._clock()
        for sid in [s for s, v in self._sessions.items() if v.expires <= now]:
            del self._sessions[sid]

    def __len__(self) -> int:
        return len(self._sessions)
