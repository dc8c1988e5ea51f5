"""Memory held by answers: freed at once when a stream fails (no garbage collection needed),
and bounded process-wide by the frame budget."""

from __future__ import annotations

import asyncio
import gc
import struct
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from privproxy.ehbp import FrameDecryptor
from privproxy.ehbp.errors import EhbpError
from privproxy.gateway import forward
from tests.privproxy.conftest import MakeProxy
from tests.privproxy.fake_gateway import FakeGateway, Reply, chunk, sse_reply

MODEL = "kimi-k3"
BODY = {"model": "private/kimi-k3", "messages": [], "stream": True}


def _partial_frame(claimed: int, sent: int) -> bytes:
    """The head of a frame announcing `claimed` bytes, followed by `sent` of them."""
    return struct.pack(">I", claimed) + b"\x5a" * sent


@pytest.fixture
def decryptors(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[weakref.ref[FrameDecryptor]]]:
    """Weak references to every decryptor made, with the cyclic collector off: what is still
    alive afterwards is kept by a reference, not merely waiting for a collection."""
    refs: list[weakref.ref[FrameDecryptor]] = []
    original = FrameDecryptor.__init__

    def init(self: FrameDecryptor, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        refs.append(weakref.ref(self))

    monkeypatch.setattr(FrameDecryptor, "__init__", init)
    gc.collect()
    gc.disable()
    try:
        yield refs
    finally:
        gc.enable()


def _stream_then(tail: bytes, **extra: Any) -> Reply:
    first = sse_reply([chunk("Hel", MODEL)]).frames[0]
    return Reply(content_type="text/event-stream", frames=[first], raw_tail=tail, **extra)


@pytest.mark.parametrize(
    "case",
    ["idle_timeout", "connection_broke", "frame_too_large", "tampered"],
)
async def test_failed_stream_frees_its_buffers_without_gc(
    make_proxy: MakeProxy,
    gateway: FakeGateway,
    decryptors: list[weakref.ref[FrameDecryptor]],
    case: str,
) -> None:
    settings: dict[str, Any] = {"upstream_idle_timeout": 0.3}
    big = _partial_frame(4 * 1024 * 1024, 1024 * 1024)  # 1 MiB of a 4 MiB frame
    if case == "idle_timeout":
        reply = _stream_then(big, hang_after=1)
    elif case == "connection_broke":
        reply = _stream_then(big, abort_after_tail=True)
    elif case == "frame_too_large":
        settings["max_response_frame_bytes"] = 1024 * 1024
        reply = _stream_then(big, hang_after=1)
    else:
        reply = _stream_then(b"", hang_after=1)
        reply.frames.append(b"x" * 2_000_000)
        reply.tamper_frame = 1
    gateway.reply = lambda seen: reply
    proxy = await make_proxy(**settings)
    resp = await proxy.post("/v1/chat/completions", json=BODY)
    text = await resp.text()
    if resp.status == 200:  # whole events, then the error event
        assert text.startswith("data: ") and '"error"' in text
    else:  # the failure came in the same read as the first frame: nothing was sent
        assert resp.status in (502, 504) and '"error"' in text
    await asyncio.sleep(0)  # let the handler's task finish
    assert forward.FRAME_BUDGET.used == 0
    assert decryptors and all(ref() is None for ref in decryptors), "decryptor still alive"


def test_decryptor_failure_keeps_no_cycle() -> None:
    # The decryptor remembers that it failed, not the exception (whose traceback would
    # reference the decryptor's frames and thus the decryptor itself).
    from privproxy.ehbp.keys import ResponseKeys

    keys = ResponseKeys(key=b"k" * 32, nonce_base=b"n" * 12)
    gc.collect()
    gc.disable()
    try:
        decryptor = FrameDecryptor(keys)
        ref = weakref.ref(decryptor)
        decryptor.push(struct.pack(">I", 40) + b"\0" * 20)
        with pytest.raises(EhbpError):
            decryptor.push(b"\0" * 20)  # completes a forged frame: authentication fails
        assert decryptor.buffered == 0
        with pytest.raises(EhbpError):
            decryptor.push(b"more")  # still unusable
        del decryptor
        assert ref() is None
    finally:
        gc.enable()


async def test_frame_budget_refuses_new_answers_then_recovers(
    make_proxy: MakeProxy, gateway: FakeGateway
) -> None:
    budget = 1024 * 1024
    hog = _stream_then(_partial_frame(4 * 1024 * 1024, 900 * 1024), hang_after=1)
    gateway.reply = lambda seen: hog
    proxy = await make_proxy(frame_budget_bytes=budget)
    first = await proxy.post("/v1/chat/completions", json=BODY)
    assert first.status == 200
    await first.content.readuntil(b"\n\n")
    async with asyncio.timeout(10):
        while forward.FRAME_BUDGET.used < 900 * 1024:
            await asyncio.sleep(0.01)
    requests_before = gateway.requests
    refused = await proxy.post("/v1/chat/completions", json=BODY)
    assert refused.status == 503
    assert refused.headers["Retry-After"] == "1"
    assert (await refused.json())["error"]["code"] == "frame_budget_exhausted"
    assert gateway.requests == requests_before  # refused before anything was sent
    first.close()  # the hog goes away: its bytes return to the budget
    async with asyncio.timeout(10):
        while forward.FRAME_BUDGET.used:
            await asyncio.sleep(0.01)
    gateway.reply = lambda seen: sse_reply([chunk("ok", MODEL)])
    again = await proxy.post("/v1/chat/completions", json=BODY)
    assert again.status == 200
    assert (await again.text()).endswith("data: [DONE]\n\n")


async def test_answer_growing_past_the_budget_fails(
    make_proxy: MakeProxy, gateway: FakeGateway
) -> None:
    gateway.reply = lambda seen: _stream_then(
        _partial_frame(8 * 1024 * 1024, 3 * 1024 * 1024), hang_after=1
    )
    proxy = await make_proxy(frame_budget_bytes=1024 * 1024)
    resp = await proxy.post("/v1/chat/completions", json=BODY)
    assert resp.status == 200
    text = await resp.text()
    assert '"code":"frame_budget_exhausted"' in text
    assert forward.FRAME_BUDGET.used == 0
