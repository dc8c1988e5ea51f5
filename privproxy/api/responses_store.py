"""A bounded, in-memory, time-limited store of Responses answers (opt-in).

Off by default: privproxy keeps no conversation. With `--responses-store-seconds N` an
answer the client asked to store is kept for N seconds so a later request can continue it
with `previous_response_id` or read it with `GET /v1/responses/{id}`. Bounded by entries and
bytes (the oldest go first), never written to disk, gone when the process exits. Entries are
bound to a digest of the PPQ key that made them: a caller using another key cannot read them.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from privproxy.jsoncodec import compact_bytes


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """One kept answer: the response object and the chat conversation it ended."""

    owner: bytes
    expires: float
    size: int
    response: dict[str, Any]
    messages: list[dict[str, Any]]  # chat messages, instructions excluded, output included


def owner_of(api_key: str) -> bytes:
    """The store's owner tag for a PPQ key (a digest: the key itself is not kept here)."""
    return hashlib.sha256(b"privproxy responses store\0" + api_key.encode()).digest()


class ResponseStore:
    """Entries in insertion order (= expiry order: one lifetime for all)."""

    def __init__(
        self,
        *,
        ttl: float,
        max_entries: int,
        max_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[str, StoredResponse] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        self._expire()
        return len(self._entries)

    @property
    def size(self) -> int:
        """Bytes held (JSON size of the kept objects)."""
        self._expire()
        return self._bytes

    def _expire(self) -> None:
        now = self._clock()
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if entry.expires > now:
                break
            self._drop(key)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key)
        self._bytes -= entry.size

    def put(self, owner: bytes, response: dict[str, Any], messages: list[dict[str, Any]]) -> bool:
        """Keep `response` (by its `id`); False when it alone exceeds the byte bound."""
        size = len(compact_bytes(response)) + len(compact_bytes(messages))
        if size > self._max_bytes:
            return False
        self._expire()
        key = response["id"]
        if key in self._entries:
            self._drop(key)
        while self._entries and (
            len(self._entries) >= self._max_entries or self._bytes + size > self._max_bytes
        ):
            self._drop(next(iter(self._entries)))
        self._entries[key] = StoredResponse(
            owner, self._clock() + self._ttl, size, response, messages
        )
        self._bytes += size
        return True

    def get(self, owner: bytes, response_id: str) -> StoredResponse | None:
        """The live entry for `response_id` made with the same key, else None."""
        self._expire()
        entry = self._entries.get(response_id)
        return entry if entry is not None and entry.owner == owner else None


__all__ = ["ResponseStore", "StoredResponse", "owner_of"]
