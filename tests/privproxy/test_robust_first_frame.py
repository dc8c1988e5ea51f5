"""Authenticated-first-frame rule: an answer carrying `Ehbp-Response-Nonce` is used (status
included) only once a non-empty frame authenticated. Empty bodies, bodies of zero-length frames
only, and statuses that cannot carry a body are gateway faults: 502 `ehbp_protocol_error`,
whatever status the gateway put on them, stream or not, as the OpenAI SDK sees it."""

from __future__ import annotations

import logging
import struct

import openai
import pytest

from tests.privproxy.conftest import ProxyClient
from tests.privproxy.fake_gateway import FakeGateway, Reply, chat_completion, json_reply

ZERO_FRAME = struct.pack(">I", 0)
BODIES = {"empty": b"", "zero_frames": ZERO_FRAME * 3}
STATUSES = [200, 201, 400, 401, 402, 404, 422, 429, 500, 503]


def _client(proxy: ProxyClient) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=str(proxy.make_url("/v1")), api_key="sk-local-unused", max_retries=0
    )


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("body", sorted(BODIES))
@pytest.mark.parametrize("status", STATUSES)
async def test_answer_without_authenticated_frame_is_502_through_sdk(
    proxy: ProxyClient,
    gateway: FakeGateway,
    caplog: pytest.LogCaptureFixture,
    status: int,
    body: str,
    stream: bool,
) -> None:
    ctype = "text/event-stream" if stream else "application/json"
    gateway.reply = lambda seen: Reply(
        status=status, content_type=ctype, frames=[], raw_tail=BODIES[body]
    )
    caplog.set_level(logging.WARNING)
    async with _client(proxy) as client:
        with pytest.raises(openai.APIStatusError) as info:
            result = await client.chat.completions.create(
                model="private/kimi-k3",
                messages=[{"role": "user", "content": "hi"}],
                stream=stream,
            )
            if stream:
                async for _ in result:  # type: ignore[union-attr]
                    pass
    err = info.value
    assert err.status_code == 502
    assert isinstance(err.body, dict) and err.body.get("code") == "ehbp_protocol_error"
    assert "not from the enclave" in err.message
    assert "Gateway fault" in caplog.text


@pytest.mark.parametrize("status", [204, 205, 304, 301, 302, 303, 307, 308])
async def test_status_that_cannot_carry_a_body_with_nonce_is_502(
    proxy: ProxyClient, gateway: FakeGateway, status: int
) -> None:
    gateway.reply = lambda seen: Reply(status=status, frames=[])
    resp = await proxy.post(
        "/v1/chat/completions", json={"model": "private/kimi-k3", "messages": []}
    )
    assert resp.status == 502
    body = await resp.json()
    assert body["error"]["code"] == "ehbp_protocol_error"
    assert str(status) in body["error"]["message"]


async def test_zero_length_frames_after_a_real_frame_are_fine(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    # The rule is about authentication, not framing: zero-length frames are legal padding
    # (they carry no sequence number), and an answer whose real frame follows them is fine.
    # Here they trail the real frame; the answer is complete and authenticated.
    reply = json_reply(chat_completion("fine", "kimi-k3"))
    reply.raw_tail = ZERO_FRAME * 2
    gateway.reply = lambda seen: reply
    resp = await proxy.post(
        "/v1/chat/completions", json={"model": "private/kimi-k3", "messages": []}
    )
    assert resp.status == 200
    assert (await resp.json())["choices"][0]["message"]["content"] == "fine"
