"""The opt-in Responses store: bounded by time, entries and bytes; bound to the key's owner."""

from __future__ import annotations

from typing import Any

from privproxy.api.responses_store import ResponseStore, owner_of

ALICE, BOB = owner_of("sk-alice"), owner_of("sk-bob")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _response(n: int, text: str = "") -> dict[str, Any]:
    return {"id": f"resp_{n}", "output": text}


def test_entries_expire_after_the_lifetime() -> None:
    clock = Clock()
    store = ResponseStore(ttl=10, max_entries=5, max_bytes=10_000, clock=clock)
    assert store.put(ALICE, _response(1), [{"role": "user", "content": "a"}])
    clock.now += 9.9
    entry = store.get(ALICE, "resp_1")
    assert entry is not None and entry.messages == [{"role": "user", "content": "a"}]
    clock.now += 0.2
    assert store.get(ALICE, "resp_1") is None and len(store) == 0 and store.size == 0


def test_owner_must_match() -> None:
    store = ResponseStore(ttl=10, max_entries=5, max_bytes=10_000)
    store.put(ALICE, _response(1), [])
    assert store.get(BOB, "resp_1") is None and store.get(ALICE, "resp_1") is not None
    assert owner_of("sk-alice") != b"sk-alice" and len(ALICE) == 32


def test_entry_bound_drops_the_oldest() -> None:
    store = ResponseStore(ttl=10, max_entries=2, max_bytes=10_000)
    for n in range(3):
        store.put(ALICE, _response(n), [])
    assert [store.get(ALICE, f"resp_{n}") is not None for n in range(3)] == [False, True, True]


def test_byte_bound_drops_the_oldest_and_refuses_oversized() -> None:
    store = ResponseStore(ttl=10, max_entries=100, max_bytes=200)
    assert store.put(ALICE, _response(1, "x" * 80), [])
    assert store.put(ALICE, _response(2, "x" * 80), [])
    assert store.get(ALICE, "resp_1") is None  # evicted to make room
    assert store.size <= 200
    assert not store.put(ALICE, _response(3, "x" * 300), [])  # alone larger than the bound
    assert store.get(ALICE, "resp_2") is not None and len(store) == 1
