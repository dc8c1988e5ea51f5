"""Request ids: one per local request, on the answer, in every log line and error body.

A client may bring its own `X-Request-Id`; it is kept when it is *well-formed*: 1 to
`MAX_LENGTH` characters from `[A-Za-z0-9._:-]` (enough for UUIDs, ULIDs and most gateways'
ids; nothing that could split a log line, a header or a JSON string). Anything else is
replaced by a fresh random id (32 hex characters). The id never travels to the gateway:
the forwarder builds its headers from a fixed list.

The id of the request being handled lives in a context variable set by the guard middleware,
so every log call made while handling it (ours or a library's) carries it through
`RequestIdFilter`, without passing it around. Tasks started while handling a request inherit
it (a re-attestation triggered by a request logs that request's id, which is the one to look
for).
"""

from __future__ import annotations

import logging
import os
import random
import re
from contextvars import ContextVar
from typing import Final

from multidict import istr

HEADER: Final = istr("X-Request-Id")  # pre-folded: header lookups skip the case folding
MAX_LENGTH: Final = 128
_WELL_FORMED: Final = re.compile(rf"[A-Za-z0-9._:-]{{1,{MAX_LENGTH}}}")

REQUEST_ID: ContextVar[str | None] = ContextVar("privproxy_request_id", default=None)
"""The id of the request whose handling is running in this context (None outside requests)."""


# Request ids are labels, not secrets: a generator seeded once from the OS is enough, and it
# spares every request a system call (os.urandom costs ~1 us here, this ~0.2 us).
_random = random.Random(os.urandom(32))  # noqa: S311 (not a secret, see above)


def new_request_id() -> str:
    """A fresh random id (128 bits, 32 hex characters)."""
    return f"{_random.getrandbits(128):032x}"


def is_well_formed(value: str) -> bool:
    """True when a client's `X-Request-Id` may be kept as it is (see module docstring)."""
    return _WELL_FORMED.fullmatch(value) is not None


def accept_or_new(value: str | None) -> str:
    """The client's id when well-formed, else a new one."""
    if value is not None and _WELL_FORMED.fullmatch(value) is not None:
        return value
    return new_request_id()


def current_request_id() -> str | None:
    """The id of the request being handled in this context, if any."""
    return REQUEST_ID.get()


class RequestIdFilter(logging.Filter):
    """Adds `record.request_id` (the current request's id, or None) to every record.

    Install on handlers; it never drops a record. A record that already carries a
    `request_id` (passed through `extra=`) keeps it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        return True


__all__ = [
    "HEADER",
    "MAX_LENGTH",
    "REQUEST_ID",
    "RequestIdFilter",
    "accept_or_new",
    "current_request_id",
    "is_well_formed",
    "new_request_id",
]
