"""`Pool.request` against a loopback server that sends crafted bytes: what is sent, what is
accepted, and which error every broken exchange turns into."""

from __future__ import annotations

import array
import asyncio
import socket
import struct
from collections.abc import Iterator

import pytest

from privproxy.gateway.h1 import (
    ConnectError,
    ConnectionLostError,
    ConnectTimeoutError,
    MalformedResponseError,
    Pool,
    TransportError,
)
from privproxy.gateway.h1.connection import MAX_INTERIM
from tests.privproxy.gateway.h1.raw_server import (
    TIMEOUT,
    ServerConn,
    answering,
    body_of,
    chunked,
    pool_for,
    reply,
    serve,
    wait,
)
from tests.privproxy.test_security_support import stalled_listener

# --- answers -----------------------------------------------------------------------------------


async def test_content_length_answer() -> None:
    answer = reply(b"hello", b"X-Custom: Value", b"Ehbp-Response-Nonce: abc", status=b"201 Made")
    async with serve(answering(answer)) as server, pool_for(server.url) as pool:
        resp = await pool.request("GET", "/")
        assert (resp.status, resp.reason) == (201, "Made")
        assert resp.headers["X-Custom"] == "Value"
        assert resp.headers.get("ehbp-response-nonce") == "abc"
        assert resp.headers.get("Content-Length") == "5"
        assert await body_of(resp) == b"hello"
        assert resp.content.at_eof()
        resp.release()


async def test_chunked_answer() -> None:
    answer = chunked(b"one ", b"two ", b"three" * 1000)
    async with serve(answering(answer)) as server, pool_for(server.url) as pool:
        resp = await pool.request("POST", "/", body=b"{}")
        assert resp.status == 200
        assert resp.headers["transfer-encoding"] == "chunked"
        assert await body_of(resp) == b"one two " + b"three" * 1000
        resp.release()


async def test_answer_sent_in_tiny_writes() -> None:
    answer = b"HTTP/1.1 100 Continue\r\n\r\n" + chunked(b"abc", b"defgh")

    async def handler(conn: ServerConn) -> None:
        await conn.read_request()
        for i in range(len(answer)):
            await conn.send(answer[i : i + 1])
        await conn.wait_eof()

    async with serve(handler) as server, pool_for(server.url) as pool:
        resp = await pool.request("GET", "/")
        assert resp.status == 200
        assert await body_of(resp) == b"abcdefgh"
        resp.release()


async def test_empty_bodies() -> None:
    answers = [reply(b""), b"HTTP/1.1 204 No Content\r\n\r\n", chunked()]
    async with serve(answering(*answers)) as server, pool_for(server.url) as pool:
        for status in (200, 204, 200):
            resp = await pool.request("GET", "/")
            assert resp.status == status
            assert await body_of(resp) == b""
            resp.release()
        assert len(server.conns) == 1  # all three kept the connection


async def test_answer_to_head_has_no_body() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"  # and no body: HEAD
    async with serve(answering(answer)) as server, pool_for(server.url) as pool:
        resp = await pool.request("HEAD", "/")
        assert resp.headers["content-length"] == "10"
        assert await body_of(resp) == b""
        resp.release()
        again = await pool.request("HEAD", "/")
        assert await body_of(again) == b""
        again.release()
        assert len(server.conns) == 1


@pytest.mark.parametrize("interim", [1, MAX_INTERIM])
async def test_interim_answers_are_skipped(interim: int) -> None:
    answer = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        + b"HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n" * (interim - 1)
        + reply(b"final", b"X-Final: 1")
    )
    async with serve(answering(answer)) as server, pool_for(server.url) as pool:
        resp = await pool.request("POST", "/", body=b"x")
        assert resp.status == 200
        assert "link" not in resp.headers
        assert resp.headers["x-final"] == "1"
        assert await body_of(resp) == b"final"
        resp.release()


async def test_interim_answer_in_its_own_write() -> None:
    async def handler(conn: ServerConn) -> None:
        await conn.read_request()
        await conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        await asyncio.sleep(0.01)
        await conn.send(reply(b"done"))
        await conn.wait_eof()

    async with serve(handler) as server, pool_for(server.url) as pool:
        resp = await pool.request("POST", "/", body=b"x")
        assert (resp.status, await body_of(resp)) == (200, b"done")
        resp.release()


async def test_too_many_interim_answers() -> None:
    answer = b"HTTP/1.1 100 Continue\r\n\r\n" * (MAX_INTERIM + 1) + reply(b"final")
    async with serve(answering(answer)) as server, pool_for(server.url) as pool:
        with pytest.raises(MalformedResponseError):
            await pool.request("POST", "/", body=b"x")
        await wait(server.conns[0].eof)  # the client dropped the connection


# --- the request on the wire --------------------------------------------------------------------


async def test_request_bytes_with_a_path_prefix() -> None:
    async with serve(answering(reply(b"ok"))) as server:
        url = f"http://127.0.0.1:{server.port}/prefix/"
        async with pool_for(url, default_headers=[("User-Agent", "h1-test/1.0")]) as pool:
            headers = [("X-A", "b c"), ("Content-Type", "application/json")]
            resp = await pool.request("POST", "/x", headers, b'{"a": 1}')
            await body_of(resp)
            resp.release()
            resp = await pool.request("GET", "/models?x=1&y=%20")
            await body_of(resp)
            resp.release()
    post, get = server.requests
    assert post.head == (
        b"POST /prefix/x HTTP/1.1\r\n"
        b"Host: 127.0.0.1:%d\r\n"
        b"User-Agent: h1-test/1.0\r\n"
        b"X-A: b c\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Length: 8\r\n"
        b"\r\n" % server.port
    )
    assert post.body == b'{"a": 1}'
    assert get.head == (
        b"GET /prefix/models?x=1&y=%%20 HTTP/1.1\r\n"
        b"Host: 127.0.0.1:%d\r\n"
        b"User-Agent: h1-test/1.0\r\n"
        b"\r\n" % server.port
    )


async def test_request_line_without_a_path_prefix() -> None:
    async with serve(answering(reply())) as server, pool_for(server.url + "/") as pool:
        resp = await pool.request("DELETE", "/v1/x")
        resp.close()
        await wait(server.conns[0].eof)
    assert server.requests[0].head.startswith(b"DELETE /v1/x HTTP/1.1\r\nHost: 127.0.0.1:")


def _bodies() -> Iterator[tuple[str, bytes | bytearray | memoryview]]:
    for size in (0, 5, 16 * 1024, 16 * 1024 + 1, 3 * 1024 * 1024):
        data = bytes(range(256)) * (size // 256) + b"t" * (size % 256)
        yield f"bytes-{size}", data
        yield f"bytearray-{size}", bytearray(data)
        yield f"memoryview-{size}", memoryview(data)
    yield "memoryview-slice", memoryview(b"xxABCDEFyy")[2:-2]


@pytest.mark.parametrize(("body"), [b for _, b in _bodies()], ids=[i for i, _ in _bodies()])
async def test_request_body_arrives_intact(body: bytes | bytearray | memoryview) -> None:
    expected = bytes(body)
    async with serve(answering(reply())) as server, pool_for(server.url) as pool:
        resp = await pool.request("POST", "/", [("X-A", "1")], body)
        assert await body_of(resp) == b"ok"
        resp.release()
    (request,) = server.requests
    assert b"\r\nContent-Length: %d\r\n" % len(expected) in request.head
    assert request.body == expected


@pytest.mark.parametrize(
    "header",
    [
        ("X-A", "a\r\nX-Evil: 1"),
        ("X-A", "a\nX-Evil: 1"),
        ("X-A", "a\rX-Evil: 1"),
        ("X-A", "a\x00b"),
        ("X-A", "a\x7fb"),
        ("X-A", "a\x1bb"),
        ("X-A", "caf\u00e9"),
        ("X-A", "\u2028"),
        ("X A", "1"),
        ("X:A", "1"),
        ("X-A:", "1"),
        ("", "1"),
        ("X\r\nEvil", "1"),
        ("X-\u00e9", "1"),
        ("X(A)", "1"),
    ],
)
async def test_header_injection_is_refused_before_sending(header: tuple[str, str]) -> None:
    async with serve(answering(reply())) as server, pool_for(server.url) as pool:
        with pytest.raises(ValueError, match="invalid request header"):
            await pool.request("POST", "/", [("X-Fine", "1"), header], b"x")
        with pytest.raises(ValueError, match="invalid request header"):
            await pool.request("POST", "/", [header, ("X-Fine", "1")], b"x")
        resp = await pool.request("POST", "/", [("X-Fine", "1")], b"x")  # still usable
        await body_of(resp)
        resp.release()
    assert len(server.conns) == 1
    (request,) = server.requests  # nothing but the valid request was ever sent
    assert b"Evil" not in request.head
    assert b"X-Fine: 1\r\n" in request.head


def test_default_header_injection_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid request header"):
        Pool("http://127.0.0.1:1", default_headers=[("User-Agent", "x\r\nX-Evil: 1")])
    with pytest.raises(ValueError, match="invalid request header"):
        Pool("http://127.0.0.1:1", default_headers=[("User Agent", "x")])


@pytest.mark.parametrize("name", ["Host", "content-length", "Transfer-Encoding", "CONNECTION"])
async def test_pool_owned_headers_cannot_be_supplied(name: str) -> None:
    # A second Host or framing header from a caller would let it smuggle a second request.
    async with serve(answering(reply())) as server, pool_for(server.url) as pool:
        with pytest.raises(ValueError, match="set by the pool"):
            await pool.request("POST", "/", [(name, "5")], b"x")
    assert server.conns == []


async def test_target_joins_the_base_path_only_at_a_slash() -> None:
    async with serve(answering(reply())) as server:
        async with pool_for(server.url + "/prefix") as pool:
            with pytest.raises(ValueError, match="invalid request line"):
                await pool.request("GET", "x")  # would have become /prefixx
            resp = await pool.request("GET", "/x")
            await body_of(resp)
            resp.release()
    (request,) = server.requests
    assert request.head.startswith(b"GET /prefix/x HTTP/1.1\r\n")


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", "x"),
        ("GET", ""),
        ("GET", "host/x"),
        ("GET", "/a b"),
        ("GET", "/a\r\nX-Evil: 1"),
        ("GET", "/a\nb"),
        ("GET", "/a\x00"),
        ("GET", "/\u00e9"),
        ("GET", "http://evil.example/"),
        ("GET", "/a#fragment"),
        ("GE T", "/"),
        ("", "/"),
        ("GET\r\n", "/"),
        ("G/T", "/"),
        ("GÉT", "/"),
    ],
)
async def test_invalid_request_line_is_refused_before_sending(method: str, target: str) -> None:
    async with serve(answering(reply())) as server, pool_for(server.url) as pool:
        with pytest.raises(ValueError, match="invalid request line"):
            await pool.request(method, target)
    assert server.conns == []


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "127.0.0.1:80", "http://", "http:///x", ""])
def test_invalid_base_url(url: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        Pool(url)


# --- broken exchanges ---------------------------------------------------------------------------


async def test_server_closes_before_answering() -> None:
    async def handler(conn: ServerConn) -> None:
        await conn.read_request()  # then close without a byte

    async with serve(handler) as server, pool_for(server.url) as pool:
        with pytest.raises(ConnectionLostError) as info:
            await pool.request("POST", "/", body=b"x")
        assert info.value.code == "connection_lost"


async def test_server_closes_inside_the_head() -> None:
    async def handler(conn: ServerConn) -> None:
        await conn.read_request()
        await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n")

    async with serve(handler) as server, pool_for(server.url) as pool:
        with pytest.raises(ConnectionLostError):
            await pool.request("GET", "/")


@pytest.mark.parametrize(
    "partial",
    [
        reply(b"0123456789")[:-5],  # Content-Length: 10, 5 bytes sent
        reply(b"0123456789")[:-10],  # head only
        chunked(b"0123456789")[:-5],  # no last chunk
        chunked(b"0123456789")[:-12],  # inside the chunk
    ],
    ids=["length-short", "length-head-only", "chunked-no-last", "chunked-mid-chunk"],
)
async def test_server_closes_mid_body(partial: bytes) -> None:
    async def handler(conn: ServerConn) -> None:
        await conn.read_request()
        await conn.send(partial)

    async with serve(handler) as server, pool_for(server.url) as pool:
        resp = await pool.request("GET", "/")
        assert resp.status == 200
        with pytest.raises(ConnectionLostError):
            await body_of(resp)
        assert not resp.content.at_eof()
        resp.release()  # does not put the broken connection back
    assert len(server.conns) == 1


@pytest.mark.parametrize(
    "answer",
    [
        b"HELLO\r\n\r\n",
        b"HTTP/2 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-A : 1\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\nContent-Length: 0\n\n\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\nContent-Length: 3\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nEhbp-Response-Nonce: a\r\nEhbp-Response-Nonce: b\r\n\r\n",
    ],
)
async def test_malformed_head(answer: bytes) -> None:
    async def handler(conn: ServerConn) -> None:
        await conn.read_request()
        await conn.send(answer)
        await conn.wait_eof()

    async with serve(handler) as server, pool_for(server.url) as pool:
        with pytest.raises(MalformedResponseError) as info:
            await pool.request("GET", "/")
        assert info.value.code == "malformed_response"
        await wait(server.conns[0].eof)  # the client hung up


async def test_endless_head() -> None:
    async def handler(conn: ServerConn) -> None:
        await conn.read_request()
        try:
            await conn.send(b"HTTP/1.1 200 OK\r\nX-Pad: ")
            for _ in range(100):  # 400 KiB, never a blank line
                await conn.send(b"a" * 4096)
        except ConnectionError:
            pass  # the client hung up, as it should
        await conn.wait_eof()

    async with serve(handler) as server, pool_for(server.url) as pool:
        with pytest.raises(MalformedResponseError):
            await pool.request("GET", "/")
        await wait(server.conns[0].eof)


@pytest.mark.parametrize(
    "body",
    [
        b"zz\r\nabc\r\n0\r\n\r\n",  # bad size
        b"3\r\nabcXY0\r\n\r\n",  # no CRLF after the data
        b"3\r\nabc\r\n0\r\nbad trailer\r\n\r\n",
    ],
)
async def test_malformed_chunked_body(body: bytes) -> None:
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body

    async def handler(conn: ServerConn) -> None:
        await conn.read_request()
        await conn.send(answer)
        await conn.wait_eof()

    async with serve(handler) as server, pool_for(server.url) as pool:
        resp = await pool.request("GET", "/")
        with pytest.raises(MalformedResponseError):
            await body_of(resp)
        resp.release()
        await wait(server.conns[0].eof)


@pytest.mark.parametrize("ending", ["reset-by-server", "pool-closed"])
async def test_close_delimited_body_cut_by_a_failure_is_not_complete(ending: str) -> None:
    got_first = asyncio.Event()

    async def handler(conn: ServerConn) -> None:
        await conn.read_request()
        await conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst part")
        await wait(got_first)
        if ending == "reset-by-server":
            sock = conn.writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.writer.transport.abort()  # RST, not FIN
        else:
            await conn.wait_eof()

    async with serve(handler) as server, pool_for(server.url) as pool:
        resp = await pool.request("GET", "/")
        assert await resp.content.readany() == b"first part"
        got_first.set()
        if ending == "pool-closed":
            await pool.close()
        with pytest.raises(ConnectionLostError):
            async with asyncio.timeout(TIMEOUT):
                await resp.content.readany()


async def test_close_delimited_body_ends_with_the_connection() -> None:
    async def handler(conn: ServerConn) -> None:
        await conn.read_request()
        await conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ")
        await conn.send(b"the end")  # then a clean close

    async with serve(handler) as server, pool_for(server.url) as pool:
        resp = await pool.request("GET", "/")
        assert await body_of(resp) == b"until the end"
        assert resp.content.at_eof()
        resp.release()


# --- connecting ---------------------------------------------------------------------------------


async def test_connect_refused() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as bound:
        bound.bind(("127.0.0.1", 0))  # bound, never listening: connects are refused
        port = bound.getsockname()[1]
        async with pool_for(f"http://127.0.0.1:{port}") as pool:
            with pytest.raises(ConnectError) as info:
                await pool.request("GET", "/")
            assert not isinstance(info.value, ConnectTimeoutError)
            assert info.value.code == "connect_failed"
            assert isinstance(info.value.__cause__, ConnectionRefusedError)
            with pytest.raises(ConnectError):  # the failed connect did not use up the slot
                await pool.request("GET", "/")


def test_connect_timeout_is_a_connect_error() -> None:
    assert issubclass(ConnectTimeoutError, ConnectError)
    assert issubclass(ConnectError, TransportError)
    assert ConnectTimeoutError.code == "connect_timeout"


async def test_connect_timeout() -> None:
    with stalled_listener() as url:
        async with pool_for(url, connect_timeout=0.2, limit=1) as pool:
            async with asyncio.timeout(TIMEOUT):
                with pytest.raises(ConnectTimeoutError):
                    await pool.request("GET", "/")
                with pytest.raises(ConnectTimeoutError):  # the slot was given back
                    await pool.request("GET", "/")


# --- framing the caller can check -----------------------------------------------------------------


async def test_content_length_counts_bytes_of_a_wide_item_view() -> None:
    # `len` of this view is 1000 (items); the body is 4000 bytes, and so must be the header.
    body = memoryview(array.array("I", range(1000)))
    async with serve(answering(reply())) as server, pool_for(server.url) as pool:
        resp = await pool.request("POST", "/", body=body)
        assert await body_of(resp) == b"ok"
        resp.release()
    (request,) = server.requests
    assert b"\r\nContent-Length: 4000\r\n" in request.head
    assert request.body == body.tobytes()


@pytest.mark.parametrize(
    ("answer", "framed"),
    [
        (reply(b"x"), True),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n", True),
        (b"HTTP/1.1 204 No Content\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nx", False),
        (b"HTTP/1.0 200 OK\r\n\r\nx", False),
    ],
    ids=["length", "chunked", "no-body", "close-delimited", "http10-close-delimited"],
)
async def test_response_says_whether_its_body_is_framed(answer: bytes, framed: bool) -> None:
    async def handler(conn: ServerConn) -> None:
        await conn.read_request()
        await conn.send(answer)

    async with serve(handler) as server, pool_for(server.url) as pool:
        resp = await pool.request("GET", "/")
        assert resp.framed is framed
        resp.close()
