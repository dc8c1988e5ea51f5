"""Browser sessions for the status page when the local token is required.

A person cannot add `Authorization: Bearer <token>` to a page visit, so the status page
offers a login form: the token is checked once and the browser gets a session cookie
instead. The cookie is never the token itself:

* value `<issued-ms>.<mac>`, where `mac` = HMAC-SHA256 over the issue time with a key that is
  itself HMAC-SHA256(token, label + 32 random bytes drawn at start). Knowing a cookie tells
  nothing about the token; a restart or a token change invalidates every cookie;
* checked in constant time (`hmac.compare_digest`), valid for `SESSION_LIFETIME` seconds;
* logout ends every session issued until then (the proxy keeps one timestamp, no list);
* `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's page makes the browser
  send it), `Path=/` (the page lives at `/`; which routes honour it is the guards' decision:
  the status page, `/v1/verification` and the page's own forms, never the API routes).

The clock is injected (`clock`, seconds since the epoch) so tests can expire sessions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from typing import Final

COOKIE_NAME: Final = "privproxy_session"
SESSION_LIFETIME: Final = 12 * 3600
"""Seconds a status-page session lasts."""
_LABEL: Final = b"privproxy status-page session v1\x00"
_MAX_COOKIE: Final = 64  # "<13 digits>.<43 base64url characters>" and some slack


class StatusSessions:
    """Issues and checks status-page session cookies for one local token."""

    __slots__ = ("_clock", "_key", "_revoked_ms")

    def __init__(self, token: str, *, clock: Callable[[], float] = time.time) -> None:
        salt = secrets.token_bytes(32)
        self._key = hmac.new(token.encode(), _LABEL + salt, hashlib.sha256).digest()
        self._clock = clock
        self._revoked_ms = -1

    def __repr__(self) -> str:
        return "StatusSessions(<key hidden>)"

    def _mac(self, issued_ms: int) -> str:
        digest = hmac.new(self._key, str(issued_ms).encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def issue(self) -> str:
        """A new session value (issued now)."""
        issued = max(self._now_ms(), self._revoked_ms + 1)  # never dead on arrival
        return f"{issued}.{self._mac(issued)}"

    def valid(self, value: str | None) -> bool:
        """True for a value this process issued, not expired and not logged out."""
        if not value or len(value) > _MAX_COOKIE:
            return False
        issued_text, dot, mac = value.partition(".")
        if not dot or not issued_text.isascii() or not issued_text.isdigit():
            return False
        issued = int(issued_text)
        # The MAC is compared first and always: how far a forged value gets does not show.
        ok = hmac.compare_digest(mac.encode(), self._mac(issued).encode())
        now = self._now_ms()
        return ok and issued > self._revoked_ms and now - issued < SESSION_LIFETIME * 1000

    def revoke_all(self) -> None:
        """Log out: every session issued until now stops being valid."""
        self._revoked_ms = max(self._now_ms(), self._revoked_ms)

    def set_cookie(self, value: str) -> str:
        """The `Set-Cookie` header value that gives the browser `value`."""
        return (
            f"{COOKIE_NAME}={value}; Path=/; Max-Age={SESSION_LIFETIME}; HttpOnly; SameSite=Strict"
        )

    @staticmethod
    def clear_cookie() -> str:
        """The `Set-Cookie` header value that removes the session cookie."""
        return f"{COOKIE_NAME}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"


__all__ = ["COOKIE_NAME", "SESSION_LIFETIME", "StatusSessions"]
