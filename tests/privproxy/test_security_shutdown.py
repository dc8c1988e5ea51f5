"""Graceful shutdown, on the real `privproxy` process and its real signal handling.

SIGTERM/SIGINT: the listener closes at once, an in-flight stream may finish within
`--shutdown-timeout`, after which it is cut and the process exits 0. The process's own
stderr at `--debug` is also searched for secrets (the CLI's logging setup, not a test one).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.privproxy.conftest import API_KEY
from tests.privproxy.fake_gateway import FakeGateway, Reply, chunk, sse_reply
from tests.privproxy.test_security_support import LOCAL_TOKEN, MARKER, MODEL, chat_body

LISTENING = re.compile(rb"listening on http://127\.0\.0\.1:(\d+)")


class Proxy:
    """A `python -m privproxy` child process and the stderr it produced."""

    def __init__(self, process: asyncio.subprocess.Process, port: int, stderr: bytearray) -> None:
        self.process = process
        self.port = port
        self.stderr = stderr

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def _pump(stream: asyncio.StreamReader, sink: bytearray) -> None:
    while line := await stream.readline():
        sink.extend(line)


def _env(tmp_path: Path, *, token: bool = True) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "PPQ_API_KEY": API_KEY,
        "PRIVPROXY_STATE_DIR": str(tmp_path / "state"),
        "PRIVPROXY_CACHE_DIR": str(tmp_path / "cache"),
    }
    if token:
        env["PRIVPROXY_TOKEN"] = LOCAL_TOKEN
    return env


async def _start(
    gateway: FakeGateway, tmp_path: Path, shutdown_timeout: float, *extra: str, token: bool = True
) -> Proxy:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "privproxy",
        "--port",
        "0",
        "--debug",
        "--api-base",
        gateway.base_url,
        "--unsafe-hpke-key",
        gateway.public_key.hex(),
        "--shutdown-timeout",
        str(shutdown_timeout),
        *extra,
        env=_env(tmp_path, token=token),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    stderr = bytearray()
    async with asyncio.timeout(20):
        while (match := LISTENING.search(stderr)) is None:
            line = await process.stderr.readline()
            assert line, f"proxy exited early: {stderr.decode(errors='replace')}"
            stderr.extend(line)
    asyncio.get_running_loop().create_task(_pump(process.stderr, stderr))
    return Proxy(process, int(match.group(1)), stderr)


@pytest.fixture
async def stop_later() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    processes: list[asyncio.subprocess.Process] = []
    yield processes
    for process in processes:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _refused(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    writer.close()
    await writer.wait_closed()
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_signal_stops_accepting_and_lets_stream_finish(
    gateway: FakeGateway,
    tmp_path: Path,
    stop_later: list[asyncio.subprocess.Process],
    sig: signal.Signals,
) -> None:
    honest = sse_reply([chunk("Hel", MODEL), chunk("lo!", MODEL)])
    gateway.reply = lambda seen: Reply(
        content_type="text/event-stream", frames=honest.frames, hang_after=1
    )
    proxy = await _start(gateway, tmp_path, shutdown_timeout=10)
    stop_later.append(proxy.process)
    auth = {"Authorization": f"Bearer {LOCAL_TOKEN}"}
    async with aiohttp.ClientSession() as session:
        resp = await session.post(
            proxy.url + "/v1/chat/completions", json=chat_body(), headers=auth
        )
        assert resp.status == 200
        assert (await resp.content.readuntil(b"\n\n")).startswith(b"data: ")
        proxy.process.send_signal(sig)
        async with asyncio.timeout(5):
            while not await _refused(proxy.port):  # the listener goes first
                await asyncio.sleep(0.05)
        assert proxy.process.returncode is None  # ...while the stream is still served
        gateway.release_hang.set()
        rest = await resp.read()
    assert rest.endswith(b"data: [DONE]\n\n")
    assert await asyncio.wait_for(proxy.process.wait(), timeout=10) == 0
    logs = bytes(proxy.stderr)
    assert b"Shutting down" in logs
    assert b"Local token required" in logs and b"(PRIVPROXY_TOKEN)" in logs
    assert b"'Authorization: Bearer <token>'" in logs  # the hint, not redacted away
    for secret in (API_KEY, LOCAL_TOKEN, MARKER):
        assert secret.encode() not in logs


async def test_stream_outliving_shutdown_timeout_is_cut(
    gateway: FakeGateway, tmp_path: Path, stop_later: list[asyncio.subprocess.Process]
) -> None:
    honest = sse_reply([chunk("Hel", MODEL), chunk("lo!", MODEL)])
    gateway.reply = lambda seen: Reply(
        content_type="text/event-stream", frames=honest.frames, hang_after=1
    )
    proxy = await _start(gateway, tmp_path, shutdown_timeout=1)
    stop_later.append(proxy.process)
    auth = {"Authorization": f"Bearer {LOCAL_TOKEN}"}
    async with aiohttp.ClientSession() as session:
        resp = await session.post(
            proxy.url + "/v1/chat/completions", json=chat_body(), headers=auth
        )
        await resp.content.readuntil(b"\n\n")
        loop = asyncio.get_running_loop()
        signalled = loop.time()
        proxy.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proxy.process.wait(), timeout=10) == 0
        elapsed = loop.time() - signalled
        try:
            rest = await resp.read()
        except aiohttp.ClientPayloadError:
            rest = b""
    assert b"[DONE]" not in rest
    assert elapsed < 1 + 5  # the timeout, plus process teardown slack
    # The upstream request was dropped, not left running on the gateway.
    await asyncio.wait_for(gateway.upstream_cancelled.wait(), timeout=5)


async def test_generated_token_file_announced_by_path_only(
    gateway: FakeGateway, tmp_path: Path, stop_later: list[asyncio.subprocess.Process]
) -> None:
    proxy = await _start(gateway, tmp_path, 1, "--require-token", token=False)
    stop_later.append(proxy.process)
    token_file = tmp_path / "state" / "token"
    token = token_file.read_text().strip()
    assert token_file.stat().st_mode & 0o777 == 0o600
    async with aiohttp.ClientSession() as session:
        url = proxy.url + "/v1/models"
        async with session.get(url) as resp:
            assert resp.status == 401
        async with session.get(url, headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 200
    proxy.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proxy.process.wait(), timeout=10) == 0
    logs = bytes(proxy.stderr)
    assert str(token_file).encode() in logs
    assert token.encode() not in logs


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
async def test_public_bind_without_token_exits_2(tmp_path: Path, host: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "privproxy",
        "--host",
        host,
        "--port",
        "0",
        "--no-require-token",
        env=_env(tmp_path, token=False),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode == 2
    assert b"requires the local token" in stderr


async def _read_stream(resp: aiohttp.ClientResponse) -> bytes:
    # `read()` raises ClientPayloadError unless the chunked body ended properly.
    return await resp.read()


@pytest.mark.parametrize("timeout", [3, 8])
async def test_shutdown_ends_on_time_and_cut_streams_say_so(
    gateway: FakeGateway,
    tmp_path: Path,
    stop_later: list[asyncio.subprocess.Process],
    timeout: int,
) -> None:
    # Streams that would run for a minute (an event every 0.1 s) outlive the shutdown timeout.
    events = sse_reply([chunk(str(i), MODEL) for i in range(600)]).frames
    gateway.reply = lambda seen: Reply(
        content_type="text/event-stream", frames=events, frame_delay=0.1, split_writes=False
    )
    proxy = await _start(gateway, tmp_path, shutdown_timeout=timeout)
    stop_later.append(proxy.process)
    auth = {"Authorization": f"Bearer {LOCAL_TOKEN}"}
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as session:
        streams = [
            await session.post(proxy.url + "/v1/chat/completions", json=chat_body(), headers=auth)
            for _ in range(3)
        ]
        for resp in streams:
            assert resp.status == 200
            await resp.content.readuntil(b"\n\n")
        signalled = loop.time()
        proxy.process.send_signal(signal.SIGTERM)
        bodies = await asyncio.gather(*(_read_stream(resp) for resp in streams))
        assert await asyncio.wait_for(proxy.process.wait(), timeout=timeout + 10) == 0
        elapsed = loop.time() - signalled
    # The streams ran on until the timeout (they were not cut early), and the process was
    # gone within a second after it.
    assert timeout - 0.2 <= elapsed <= timeout + 1.0, f"exit after {elapsed:.2f} s"
    for body in bodies:
        last = body.rstrip(b"\n").rsplit(b"\n\n", 1)[-1]
        assert last.startswith(b"data: ")
        assert json.loads(last[6:])["error"]["code"] == "shutting_down"
        assert b"[DONE]" not in body
        assert body.count(b"data: ") > timeout * 5  # it kept streaming during the wait
