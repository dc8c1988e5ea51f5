"""`privproxy.gateway.h1.Body`: buffered pieces, one waiting reader, failure and backpressure."""

from __future__ import annotations

import asyncio

import pytest

from privproxy.gateway.h1 import Body, ConnectionLostError, MalformedResponseError
from privproxy.gateway.h1.body import HIGH_WATER, PIECE_OVERHEAD


class FakeFlow:
    """Records what the body asks of its connection."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def pause_reading(self) -> None:
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self.calls.append("resume")


def make_body() -> tuple[Body, FakeFlow]:
    flow = FakeFlow()
    return Body(flow, asyncio.get_running_loop()), flow


async def test_read_nowait_joins_buffered_pieces() -> None:
    body, flow = make_body()
    assert body.read_nowait() == b""
    body.feed([b"ab", b"cd"])
    body.feed([b"e"])
    assert body.read_nowait() == b"abcde"
    assert body.read_nowait() == b""  # taken once
    body.feed([b"single"])
    assert body.read_nowait() == b"single"
    assert flow.calls == []


async def test_readany_returns_what_is_buffered_without_waiting() -> None:
    body, _ = make_body()
    body.feed([b"x", b"y"])
    assert await body.readany() == b"xy"


async def test_readany_waits_for_data() -> None:
    body, _ = make_body()
    reader = asyncio.create_task(body.readany())
    for _ in range(3):
        await asyncio.sleep(0)
    assert not reader.done()
    body.feed([b"late", b"!"])
    assert await asyncio.wait_for(reader, 5) == b"late!"


async def test_readany_returns_empty_at_eof_and_keeps_doing_so() -> None:
    body, _ = make_body()
    reader = asyncio.create_task(body.readany())
    await asyncio.sleep(0)
    assert not body.complete
    body.feed_eof()
    assert await asyncio.wait_for(reader, 5) == b""
    assert await body.readany() == b""
    assert body.read_nowait() == b""


async def test_data_before_eof_is_read_first() -> None:
    body, _ = make_body()
    body.feed([b"last"])
    body.feed_eof()
    assert body.complete
    assert not body.at_eof()  # unread bytes remain
    assert await body.readany() == b"last"
    assert body.at_eof()
    assert await body.readany() == b""


async def test_at_eof_only_after_eof() -> None:
    body, _ = make_body()
    assert not body.at_eof()
    body.feed([b"x"])
    assert body.read_nowait() == b"x"
    assert not body.at_eof()  # everything read, but the body has not ended
    body.feed_eof()
    assert body.at_eof()


async def test_set_exception_wakes_a_waiting_reader() -> None:
    body, _ = make_body()
    reader = asyncio.create_task(body.readany())
    for _ in range(3):
        await asyncio.sleep(0)
    assert not reader.done()
    error = ConnectionLostError("gone")
    body.set_exception(error)
    with pytest.raises(ConnectionLostError) as info:
        await asyncio.wait_for(reader, 5)
    assert info.value is error
    with pytest.raises(ConnectionLostError):  # and every later read
        await body.readany()
    with pytest.raises(ConnectionLostError):
        body.read_nowait()
    assert not body.at_eof()
    assert not body.complete


async def test_buffered_data_is_returned_before_the_exception() -> None:
    body, _ = make_body()
    body.feed([b"good ", b"bytes"])
    body.set_exception(MalformedResponseError("bad chunk"))
    assert await body.readany() == b"good bytes"
    with pytest.raises(MalformedResponseError):
        await body.readany()


async def test_first_exception_wins() -> None:
    body, _ = make_body()
    first = MalformedResponseError("bad chunk")
    body.set_exception(first)
    body.set_exception(ConnectionLostError("then closed"))
    with pytest.raises(MalformedResponseError) as info:
        body.read_nowait()
    assert info.value is first


async def test_exception_after_a_clean_end_is_ignored() -> None:
    body, _ = make_body()
    body.feed([b"all"])
    body.feed_eof()
    body.set_exception(ConnectionLostError("closed after the end"))
    assert await body.readany() == b"all"
    assert await body.readany() == b""
    assert body.at_eof()


async def test_cancelled_reader_leaves_the_body_usable() -> None:
    body, _ = make_body()
    reader = asyncio.create_task(body.readany())
    await asyncio.sleep(0)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    body.feed([b"after"])
    assert await body.readany() == b"after"


async def test_pause_above_high_water_and_resume_after_the_read() -> None:
    body, flow = make_body()
    body.feed([b"a" * (HIGH_WATER - PIECE_OVERHEAD)])
    assert flow.calls == []  # at the mark (payload + per-piece charge), not above it
    body.feed([b"b"])
    assert flow.calls == ["pause"]
    body.feed([b"c" * 1000, b"d" * 1000])
    assert flow.calls == ["pause"]  # once
    data = body.read_nowait()
    assert len(data) == HIGH_WATER - PIECE_OVERHEAD + 2001
    assert data == b"a" * (HIGH_WATER - PIECE_OVERHEAD) + b"b" + b"c" * 1000 + b"d" * 1000
    assert flow.calls == ["pause", "resume"]
    assert body.read_nowait() == b""
    assert flow.calls == ["pause", "resume"]  # nothing to resume
    body.feed([b"e" * (HIGH_WATER + 1)])  # a second round
    assert flow.calls == ["pause", "resume", "pause"]
    assert await body.readany() == b"e" * (HIGH_WATER + 1)
    assert flow.calls == ["pause", "resume", "pause", "resume"]


async def test_many_small_pieces_pause_too() -> None:
    body, flow = make_body()
    piece = b"p" * (1024 - PIECE_OVERHEAD)  # each feed charges exactly 1 KiB
    for _ in range(HIGH_WATER // 1024):
        body.feed([piece])
    assert flow.calls == []
    body.feed([b"!"])
    assert flow.calls == ["pause"]
    assert len(await body.readany()) == HIGH_WATER // 1024 * len(piece) + 1
    assert flow.calls == ["pause", "resume"]


async def test_tiny_pieces_are_charged_for_their_overhead() -> None:
    # 2-byte chunks (a hostile gateway) cost ~40 bytes of memory each as separate objects:
    # the reads' pieces are joined, and every kept piece is charged PIECE_OVERHEAD.
    body, flow = make_body()
    fed = 0
    while not flow.calls:
        body.feed([b"ab"] * 10)  # one read holding ten tiny chunks
        fed += 1
    assert fed <= HIGH_WATER // (20 + PIECE_OVERHEAD) + 1
    assert len(body._parts) == fed  # one object per read, not per chunk
