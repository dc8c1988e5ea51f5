"""Backpressure end to end: an unread answer stops the client reading from the socket, with
a bounded amount buffered, and reading it afterwards yields every byte intact."""

from __future__ import annotations

import asyncio

import pytest

from privproxy.gateway.h1.body import HIGH_WATER
from privproxy.gateway.h1.connection import Connection
from tests.privproxy.gateway.h1.raw_server import (
    TIMEOUT,
    ServerConn,
    body_of,
    chunked,
    pool_for,
    serve,
)

SOCKET_READ = 256 * 1024  # what one read of an asyncio socket transport may return at most


async def test_unread_answer_stops_the_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    payload = bytes(range(256)) * (2 * 1024 * 4)  # 2 MiB
    pieces = [payload[i : i + 16 * 1024] for i in range(0, len(payload), 16 * 1024)]
    answer = chunked(*pieces)
    received = 0
    paused: list[Connection] = []
    resumed = 0
    pause_seen = asyncio.Event()
    data_received = Connection.data_received
    pause_reading = Connection.pause_reading
    resume_reading = Connection.resume_reading

    def counting_data_received(self: Connection, data: bytes) -> None:
        nonlocal received
        received += len(data)
        data_received(self, data)

    def recording_pause(self: Connection) -> None:
        paused.append(self)
        pause_seen.set()
        pause_reading(self)

    def recording_resume(self: Connection) -> None:
        nonlocal resumed
        resumed += 1
        resume_reading(self)

    monkeypatch.setattr(Connection, "data_received", counting_data_received)
    monkeypatch.setattr(Connection, "pause_reading", recording_pause)
    monkeypatch.setattr(Connection, "resume_reading", recording_resume)

    async def handler(conn: ServerConn) -> None:
        await conn.read_request()
        await conn.send(answer)  # blocks in drain() while the client does not read
        await conn.wait_eof()

    async with serve(handler) as server, pool_for(server.url) as pool:
        resp = await pool.request("GET", "/")
        async with asyncio.timeout(TIMEOUT):
            await pause_seen.wait()
        (conn,) = set(paused)
        assert conn.transport is not None
        assert not conn.transport.is_reading()
        at_pause = received
        for _ in range(20):  # the loop keeps running; nothing more is read
            await asyncio.sleep(0)
        await asyncio.sleep(0.05)
        assert received == at_pause
        assert received < len(answer)
        assert received <= HIGH_WATER + SOCKET_READ + 4096  # + head and chunk framing
        assert await body_of(resp) == payload
        assert received == len(answer)
        assert resumed >= 1
        assert resp.content.at_eof()
        resp.release()
    assert len(server.conns) == 1
