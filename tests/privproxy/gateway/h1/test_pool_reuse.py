"""`Pool` connection management: keep-alive reuse and when it must not happen, the
connection limit, cancellation, deadlines, idle expiry and closing the pool."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable
from pathlib import Path

import pytest

from privproxy.gateway.h1 import ConnectionLostError, PoolClosedError, Response
from tests.privproxy.gateway.h1.raw_server import (
    TIMEOUT,
    Handler,
    ServerConn,
    answering,
    body_of,
    chunked,
    pool_for,
    reply,
    serve,
    wait,
)
from tests.privproxy.gateway.h1.test_pool_tls import make_certs


async def settle() -> None:
    """A few loop turns: whatever was about to run has run."""
    for _ in range(5):
        await asyncio.sleep(0)


async def exchange(pool_request: Awaitable[Response] | Response) -> bytes:
    """Read the whole body, then release the answer."""
    resp = pool_request if isinstance(pool_request, Response) else await pool_request
    body = await body_of(resp)
    resp.release()
    return body


# --- keep-alive ----------------------------------------------------------------------------------


async def test_sequential_requests_share_one_connection() -> None:
    answers = [reply(b"first"), chunked(b"second"), b"HTTP/1.1 204 No Content\r\n\r\n"]
    async with serve(answering(*answers)) as server, pool_for(server.url) as pool:
        assert await exchange(await pool.request("POST", "/a", body=b"1")) == b"first"
        assert await exchange(await pool.request("POST", "/b", body=b"2")) == b"second"
        assert await exchange(await pool.request("GET", "/c")) == b""
        assert await exchange(await pool.request("GET", "/d")) == b""
    assert len(server.conns) == 1
    assert [r.conn for r in server.requests] == [0, 0, 0, 0]
    assert [r.head.split(b" ")[1] for r in server.requests] == [b"/a", b"/b", b"/c", b"/d"]


async def test_release_twice_and_close_after_release_are_harmless() -> None:
    async with serve(answering(reply())) as server, pool_for(server.url) as pool:
        resp = await pool.request("GET", "/")
        await body_of(resp)
        resp.release()
        resp.release()
        resp.close()  # the connection already went back: not closed by this
        assert await exchange(await pool.request("GET", "/")) == b"ok"
    assert len(server.conns) == 1


@pytest.mark.parametrize(
    "answer",
    [
        reply(b"x", b"Connection: close"),
        reply(b"x", b"Connection: keep-alive, Close"),
        b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",  # HTTP/1.0 without keep-alive
    ],
    ids=["close", "close-token", "http10"],
)
async def test_no_reuse_when_the_server_says_so(answer: bytes) -> None:
    async with serve(answering(answer)) as server, pool_for(server.url) as pool:
        assert await exchange(await pool.request("GET", "/")) == b"x"
        await wait(server.conns[0].eof)  # released = closed by the client
        assert await exchange(await pool.request("GET", "/")) == b"x"
    assert len(server.conns) == 2


async def test_http10_keep_alive_is_reused() -> None:
    answer = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx"
    async with serve(answering(answer)) as server, pool_for(server.url) as pool:
        assert await exchange(await pool.request("GET", "/")) == b"x"
        assert await exchange(await pool.request("GET", "/")) == b"x"
    assert len(server.conns) == 1


async def test_no_reuse_after_a_close_delimited_body() -> None:
    async def handler(conn: ServerConn) -> None:
        await conn.read_request()
        await conn.send(b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\nuntil close")

    async with serve(handler) as server, pool_for(server.url) as pool:
        assert await exchange(await pool.request("GET", "/")) == b"until close"
        assert await exchange(await pool.request("GET", "/")) == b"until close"
    assert len(server.conns) == 2


async def test_no_reuse_after_close() -> None:
    async with serve(answering(reply(b"x" * 100))) as server, pool_for(server.url) as pool:
        resp = await pool.request("GET", "/")
        resp.close()
        resp.close()
        resp.release()  # after close: nothing to give back
        await wait(server.conns[0].eof)
        assert await exchange(await pool.request("GET", "/")) == b"x" * 100
    assert len(server.conns) == 2


async def test_no_reuse_after_releasing_an_unread_body() -> None:
    async with serve(answering(reply(b"y" * 1000))) as server, pool_for(server.url) as pool:
        resp = await pool.request("GET", "/")
        resp.release()  # body not taken: closed, not pooled
        await wait(server.conns[0].eof)
        assert await exchange(await pool.request("GET", "/")) == b"y" * 1000
    assert len(server.conns) == 2


async def test_no_reuse_after_releasing_an_incomplete_body() -> None:
    async def handler(conn: ServerConn) -> None:
        if conn.index == 0:
            await conn.read_request()
            await conn.send(reply(b"0123456789")[:-5])  # half the body, then silence
            await conn.wait_eof()
        else:
            await answering(reply(b"fresh"))(conn)

    async with serve(handler) as server, pool_for(server.url) as pool:
        resp = await pool.request("GET", "/")
        assert await resp.content.readany() == b"01234"
        resp.release()
        await wait(server.conns[0].eof)
        assert await exchange(await pool.request("GET", "/")) == b"fresh"
    assert len(server.conns) == 2


async def test_no_reuse_when_extra_bytes_follow_the_answer() -> None:
    smuggled = reply(b"x") + b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged"
    async with serve(answering(smuggled)) as server, pool_for(server.url) as pool:
        assert await exchange(await pool.request("GET", "/")) == b"x"
        await wait(server.conns[0].eof)
        assert await exchange(await pool.request("GET", "/")) == b"x"  # never b"forged"
    assert len(server.conns) == 2


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
async def test_no_reuse_while_request_bytes_are_unsent(tmp_path: Path, tls: bool) -> None:
    # The gateway answers after the head and stops reading the body: the rest of it is still
    # in our send buffer, and on a reused connection it would be read as the next request.
    # Over TLS the rest is ciphertext in the TCP transport below the TLS one.
    body = bytes(32 * 1024 * 1024)  # far more than the socket buffers take
    second_done = asyncio.Event()

    async def handler(conn: ServerConn) -> None:
        if conn.index == 0:
            await conn.reader.readuntil(b"\r\n\r\n")  # the head only
            await conn.send(reply(b"early", status=b"413 Content Too Large"))
            await wait(second_done)  # no byte of the body read until the test is over
            await conn.wait_eof()
        else:
            await answering(reply(b"fresh"))(conn)

    server_ctx = client_ctx = None
    if tls:
        ca_path, chain_path, key_path = make_certs(tmp_path)
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(chain_path, key_path)
        client_ctx = ssl.create_default_context(cafile=str(ca_path))
    async with (
        serve(handler, server_ctx) as server,
        pool_for(server.url, ssl_context=client_ctx) as pool,
    ):
        resp = await pool.request("POST", "/big", body=body)
        assert resp.status == 413
        assert await exchange(resp) == b"early"
        assert await exchange(await pool.request("POST", "/next", body=b"{}")) == b"fresh"
        second_done.set()
    assert len(server.conns) == 2
    assert [r.conn for r in server.requests] == [1]  # /next went out on a new connection
    assert server.requests[0].body == b"{}"


async def test_bytes_sent_to_an_idle_connection_condemn_it() -> None:
    released = asyncio.Event()

    async def handler(conn: ServerConn) -> None:
        if conn.index == 0:
            await conn.read_request()
            await conn.send(reply(b"x"))
            await wait(released)
            await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged")
            await conn.wait_eof()
        else:
            await answering(reply(b"fresh"))(conn)

    async with serve(handler) as server, pool_for(server.url) as pool:
        assert await exchange(await pool.request("GET", "/")) == b"x"
        released.set()
        await wait(server.conns[0].eof)  # the client dropped the idle connection
        assert await exchange(await pool.request("GET", "/")) == b"fresh"
    assert len(server.conns) == 2


async def test_idle_connection_closed_by_the_server_is_not_reused() -> None:
    async def handler(conn: ServerConn) -> None:
        await conn.read_request()
        await conn.send(reply(b"conn %d" % conn.index))
        conn.writer.write_eof()  # half-close: the client must notice and drop it
        await conn.wait_eof()

    async with serve(handler) as server, pool_for(server.url) as pool:
        assert await exchange(await pool.request("GET", "/")) == b"conn 0"
        await wait(server.conns[0].eof)
        assert await exchange(await pool.request("GET", "/")) == b"conn 1"
    assert len(server.conns) == 2


# --- limit ---------------------------------------------------------------------------------------


async def test_limit_makes_a_second_request_wait_then_reuse() -> None:
    async with (
        serve(answering(reply(b"a"), reply(b"b"))) as server,
        pool_for(server.url, limit=1) as pool,
    ):
        first = await pool.request("GET", "/1")
        second = asyncio.create_task(pool.request("GET", "/2"))
        await settle()
        assert not second.done()
        assert len(server.requests) == 1
        assert await body_of(first) == b"a"
        first.release()
        async with asyncio.timeout(TIMEOUT):
            assert await exchange(second) == b"b"
    assert len(server.conns) == 1
    assert [r.conn for r in server.requests] == [0, 0]


async def test_limit_slot_freed_by_close_lets_the_waiter_connect() -> None:
    async with serve(answering(reply(b"a"))) as server, pool_for(server.url, limit=1) as pool:
        first = await pool.request("GET", "/1")
        second = asyncio.create_task(pool.request("GET", "/2"))
        await settle()
        assert not second.done()
        first.close()
        async with asyncio.timeout(TIMEOUT):
            assert await exchange(second) == b"a"
    assert len(server.conns) == 2


async def test_cancelled_waiter_does_not_keep_a_slot() -> None:
    async with serve(answering(reply(b"a"))) as server, pool_for(server.url, limit=1) as pool:
        first = await pool.request("GET", "/1")
        waiting = asyncio.create_task(pool.request("GET", "/2"))
        await settle()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert await exchange(first) == b"a"
        async with asyncio.timeout(TIMEOUT):
            assert await exchange(await pool.request("GET", "/3")) == b"a"
    assert len(server.conns) == 1
    assert [r.head.split(b" ")[1] for r in server.requests] == [b"/1", b"/3"]


async def test_several_waiters_are_all_served() -> None:
    async with serve(answering(reply(b"r"))) as server, pool_for(server.url, limit=2) as pool:
        tasks = [asyncio.create_task(exchange(pool.request("GET", f"/{i}"))) for i in range(10)]
        async with asyncio.timeout(TIMEOUT):
            assert await asyncio.gather(*tasks) == [b"r"] * 10
    assert len(server.conns) <= 2
    assert len(server.requests) == 10


async def test_waiting_request_is_served_before_a_later_one() -> None:
    order: list[str] = []
    async with serve(answering(reply(b"ok"))) as server, pool_for(server.url, limit=1) as pool:
        first = await pool.request("GET", "/1")

        async def queued() -> None:
            resp = await pool.request("GET", "/2")
            order.append("queued")
            await exchange(resp)

        task = asyncio.create_task(queued())
        await settle()
        assert not task.done()
        await exchange(first)  # hands the connection to the queued request...
        later = await pool.request("GET", "/3")  # ...unless this one barges in
        order.append("later")
        await exchange(later)
        await asyncio.wait_for(task, TIMEOUT)
    assert order == ["queued", "later"]


# --- cancellation and deadlines ------------------------------------------------------------------


def _silent_then_answering(answer: bytes) -> tuple[asyncio.Event, Handler]:
    got_request = asyncio.Event()

    async def handler(conn: ServerConn) -> None:
        if conn.index == 0:
            await conn.read_request()
            got_request.set()
            await conn.wait_eof()  # never answers
        else:
            await answering(answer)(conn)

    return got_request, handler


async def test_cancelling_a_request_waiting_for_the_head_closes_its_connection() -> None:
    got_request, handler = _silent_then_answering(reply(b"second"))
    async with serve(handler) as server, pool_for(server.url, limit=1) as pool:
        task = asyncio.create_task(pool.request("POST", "/", body=b"x"))
        await wait(got_request)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await wait(server.conns[0].eof)  # the connection was closed, not pooled
        async with asyncio.timeout(TIMEOUT):  # and its slot was freed
            assert await exchange(await pool.request("POST", "/", body=b"y")) == b"second"
    assert len(server.conns) == 2


async def test_deadline_while_waiting_for_the_head() -> None:
    got_request, handler = _silent_then_answering(reply(b"second"))
    async with serve(handler) as server, pool_for(server.url, limit=1) as pool:
        loop = asyncio.get_running_loop()
        with pytest.raises(TimeoutError):
            await pool.request("POST", "/", body=b"x", deadline=loop.time() + 0.05)
        assert got_request.is_set()
        await wait(server.conns[0].eof)
        deadline = loop.time() + TIMEOUT
        resp = await pool.request("POST", "/", body=b"y", deadline=deadline)
        assert await exchange(resp) == b"second"
    assert len(server.conns) == 2


async def test_deadline_while_waiting_for_a_slot() -> None:
    async with serve(answering(reply(b"a"))) as server, pool_for(server.url, limit=1) as pool:
        loop = asyncio.get_running_loop()
        first = await pool.request("GET", "/1")
        with pytest.raises(TimeoutError):
            await pool.request("GET", "/2", deadline=loop.time() + 0.05)
        assert await exchange(first) == b"a"
        assert await exchange(await pool.request("GET", "/3", deadline=loop.time() + 5)) == b"a"
    assert len(server.conns) == 1
    assert [r.head.split(b" ")[1] for r in server.requests] == [b"/1", b"/3"]


# --- idle expiry and closing ---------------------------------------------------------------------


async def test_idle_connection_expires() -> None:
    async with serve(answering(reply(b"x"))) as server, pool_for(server.url, idle_ttl=0.05) as pool:
        assert await exchange(await pool.request("GET", "/")) == b"x"
        await wait(server.conns[0].eof)  # closed by the pool after ~idle_ttl
        assert await exchange(await pool.request("GET", "/")) == b"x"
    assert len(server.conns) == 2


async def test_connection_in_use_does_not_expire() -> None:
    async with serve(answering(reply(b"x"))) as server, pool_for(server.url, idle_ttl=0.05) as pool:
        resp = await pool.request("GET", "/")
        await asyncio.sleep(0.2)  # several TTLs while the answer is held
        assert await body_of(resp) == b"x"
        assert not server.conns[0].eof.is_set()
        resp.release()
        await wait(server.conns[0].eof)


async def test_close_closes_idle_connections_and_refuses_requests() -> None:
    async with serve(answering(reply(b"x"))) as server:
        async with pool_for(server.url) as pool:
            assert await exchange(await pool.request("GET", "/")) == b"x"
            await pool.close()
            await wait(server.conns[0].eof)
            with pytest.raises(PoolClosedError) as info:
                await pool.request("GET", "/")
            assert info.value.code == "pool_closed"
            await pool.close()  # idempotent
    assert len(server.conns) == 1


async def test_close_fails_waiters_and_answers_in_progress() -> None:
    async with (
        serve(answering(reply(b"x" * 10, b"X-A: 1")[:-5])) as server,
        pool_for(server.url, limit=1) as pool,
    ):
        first = await pool.request("GET", "/1")  # body half sent, then nothing
        waiting = asyncio.create_task(pool.request("GET", "/2"))
        await settle()
        await pool.close()
        with pytest.raises(PoolClosedError):
            await asyncio.wait_for(waiting, TIMEOUT)
        assert await first.content.readany() == b"x" * 5
        with pytest.raises(ConnectionLostError):
            await body_of(first)
        first.release()
        await wait(server.conns[0].eof)
    assert len(server.conns) == 1
