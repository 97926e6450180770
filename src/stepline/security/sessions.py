"""Console sessions: who signed in, with the per-session token the pages send back on every state-changing call.

    session = sessions.open("alice")                   # after a sign-in with alice's key and secret
    sessions.find(cookie_value)                         # the Session, or None once signed out or expired
    link = sessions.login_link("alice")                 # a one-time token that opens a session when redeemed

Sessions live in the server's memory: a restart signs everyone out. Tokens are random (256 bits) and only their
SHA-256 is kept, so the table says nothing a cookie could be made from.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

SESSION_SECONDS = 12 * 3600  # a console session lasts a working day, then asks for the key again
LOGIN_LINK_SECONDS = 24 * 3600
MAX_SESSIONS = 10_000  # past it the oldest session ends, so sign-ins cannot fill the memory


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    """A signed-in console user; `token` is the cookie's value, `csrf` the header the pages send."""

    token: str
    user: str
    csrf: str
    expires: float


class Sessions:
    """The open console sessions and the unredeemed one-time sign-in links of one server."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._sessions: dict[str, Session] = {}  # by the SHA-256 of the token, oldest first
        self._links: dict[str, tuple[str, float]] = {}  # the SHA-256 of a link's token -> (user, expiry)

    def open(self, user: str) -> Session:
        while len(self._sessions) >= MAX_SESSIONS:
            del self._sessions[next(iter(self._sessions))]
        session = Session(token=secrets.token_urlsafe(32), user=user, csrf=secrets.token_urlsafe(32),
                          expires=self.clock() + SESSION_SECONDS)
        self._sessions[_digest(session.token)] = session
        return session

    def find(self, token: str) -> Session | None:
        key = _digest(token)
        session = self._sessions.get(key)
        if session is not None and session.expires <= self.clock():
            del self._sessions[key]
            return None
        return session

    def close(self, token: str) -> None:
        self._sessions.pop(_digest(token), None)

    def login_link(self, user: str) -> str:
        """A token that signs `user` in once, within LOGIN_LINK_SECONDS."""
        token = secrets.token_urlsafe(32)
        self._links[_digest(token)] = (user, self.clock() + LOGIN_LINK_SECONDS)
        return token

    def redeem(self, token: str) -> Session | None:
        """A new session for the link's user; None if the link was used, has expired, or never existed."""
        user, expires = self._links.pop(_digest(token), ("", 0.0))
        return self.open(user) if user and expires > self.clock() else None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
