"""Shared support for the security tests (no tests here).

The fake gateway itself is `tests/privproxy/fake_gateway.py` (shared, reused through the
`gateway` / `make_proxy` fixtures of `conftest.py`); this module adds what the hostile cases
need beyond it: a raw HTTP "gateway" that drops the connection mid-body or sends an
oversized frame header, a stalled listener, a closed port, SSE
parsing, and process resource probes for the leak checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

MARKER = "PROMPT-MARKER-7f3c9b1e"
LOCAL_TOKEN = "local-token-DoNotLeak-abcdefghij"
MODEL = "private/kimi-k3"


def chat_body(*, stream: bool = True, marker: str = MARKER) -> dict[str, Any]:
    """A chat request whose prompt carries `marker` (searched for in logs and on the wire)."""
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": f"Say hello {marker}"}],
        "stream": stream,
    }


def sse_events(body: bytes) -> list[str]:
    """`data:` payloads of an event stream, in order."""
    events = []
    for line in body.decode("utf-8", errors="replace").splitlines():
        if line.startswith("data:"):
            events.append(line[5:].strip())
    return events


def sse_error(body: bytes) -> dict[str, Any] | None:
    """The `error` object of the final event, or None if the stream did not end with one."""
    events = sse_events(body)
    if not events:
        return None
    with contextlib.suppress(ValueError):
        last = json.loads(events[-1])
        if isinstance(last, dict) and isinstance(last.get("error"), dict):
            error: dict[str, Any] = last["error"]
            return error
    return None


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.asynccontextmanager
async def raw_gateway(body: bytes | None = None, *, then: str = "abort") -> AsyncIterator[str]:
    """A raw HTTP "gateway": answers 200 event-stream with a well-formed (random) nonce, sends
    `body` as one chunk (default: half of a frame that claims 1000 bytes), then either drops
    the TCP connection without the terminating chunk (`then="abort"`) or goes silent
    (`then="hang"`). Yields its base URL."""
    if body is None:
        body = (1000).to_bytes(4, "big") + os.urandom(100)
    payload = body

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        await reader.readexactly(length)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Ehbp-Response-Nonce: " + os.urandom(32).hex().encode() + b"\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
            + f"{len(payload):x}\r\n".encode()
            + payload
            + b"\r\n"
        )
        await writer.drain()
        if then == "hang":
            await reader.read()  # until the proxy hangs up
        else:
            await asyncio.sleep(0.05)
        writer.transport.abort()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


@contextlib.contextmanager
def stalled_listener() -> Iterator[str]:
    """A loopback listener whose accept queue is full, so new TCP connects hang (the kernel
    drops their SYNs): a hermetic stand-in for an unreachable gateway. Yields its base URL."""
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = server.getsockname()[1]
        for _ in range(3):  # fill the backlog; these are never accepted
            filler = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        yield f"http://127.0.0.1:{port}"


def open_fds() -> int:
    """Open file descriptors of this process (sockets included)."""
    return len(os.listdir("/proc/self/fd"))


def rss_bytes() -> int:
    """Resident set size of this process, from /proc/self/statm."""
    with open("/proc/self/statm", encoding="ascii") as handle:
        resident_pages = int(handle.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")
