"""The sealed chat path as a library (`open_chat`): same seal, forward and decryption as
`POST /v1/chat/completions`, answers handed back parsed, failures as `ProxyError`s."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient

from privproxy.api.sealed_chat import open_chat
from privproxy.enclave.unsafe import UnsafeStaticProvider
from privproxy.errors import ProxyError
from privproxy.server.app import create_app
from privproxy.server.app_keys import CATALOG_KEY
from tests.privproxy.conftest import ProxyClient, proxy_settings
from tests.privproxy.fake_gateway import (
    FakeGateway,
    Reply,
    chat_completion,
    chunk,
    json_reply,
    sse_reply,
)


async def _probe(request: web.Request) -> web.StreamResponse:
    """Runs `open_chat` with the posted chat body and reports what came back (or failed)."""
    body = await request.json()
    got: list[Any] = []
    try:
        async with await open_chat(request, body) as answer:
            if body.get("stream"):
                try:
                    if body.get("pieces"):  # a translating stream's reader
                        while (batch := await answer.next_pieces()) is not None:
                            got += batch
                    else:
                        async for item in answer.chunks():
                            got.append(item)
                except ProxyError as err:  # after "headers": reported, not raised
                    return web.json_response({"chunks": got, "late_error": err.to_json()})
                return web.json_response({"chunks": got})
            return web.json_response({"json": await answer.json()})
    except ProxyError as err:
        return web.json_response({"early_error": err.to_json(), "status": err.status})


@pytest.fixture
async def probe(gateway: FakeGateway, aiohttp_client: AiohttpClient, tmp_path: Path) -> ProxyClient:
    app = create_app(
        proxy_settings(gateway, tmp_path),
        provider=UnsafeStaticProvider(gateway.public_key, "https://enclave.test"),
    )
    app.router.add_post("/probe", _probe)
    client: ProxyClient = await aiohttp_client(app)
    return client


async def _post(probe: ProxyClient, body: dict[str, Any]) -> dict[str, Any]:
    resp = await probe.post("/probe", json=body)
    assert resp.status == 200
    result: dict[str, Any] = await resp.json()
    return result


async def test_non_stream_answer_is_decrypted_and_model_resolved(
    probe: ProxyClient, gateway: FakeGateway
) -> None:
    gateway.reply = lambda seen: json_reply(chat_completion("hello", seen.body["model"]), frames=3)
    out = await _post(probe, {"model": "private/kimi-k3", "messages": [{"role": "user"}]})
    assert out["json"]["choices"][0]["message"]["content"] == "hello"
    seen = gateway.seen[-1]
    assert seen.body["model"] == "kimi-k3"
    assert seen.headers["X-Private-Model"] == "private/kimi-k3"
    assert b"kimi-k3" not in seen.raw_body  # ciphertext only


async def test_stream_chunks_parsed_across_split_frames(
    probe: ProxyClient, gateway: FakeGateway
) -> None:
    parts = ["a", "b", "c"]
    gateway.reply = lambda seen: sse_reply([chunk(p, "m") for p in parts], split_event=True)
    out = await _post(probe, {"model": "kimi-k3", "stream": True, "messages": []})
    assert [c["choices"][0]["delta"]["content"] for c in out["chunks"]] == parts
    assert "late_error" not in out


async def test_pieces_give_text_only_chunks_as_their_text(
    probe: ProxyClient, gateway: FakeGateway
) -> None:
    # The same stream read as objects and as pieces: text-only chunks come as their text
    # (the first one parsed, which teaches the shape; those of one read joined), others as
    # objects.
    events = [chunk(f'w{i} "q"', "m") for i in range(5)] + [chunk("", "m", finish="stop")]
    gateway.reply = lambda seen: sse_reply(events, per_frame=1)
    whole = await _post(probe, {"model": "kimi-k3", "stream": True, "messages": []})
    pieces = await _post(probe, {"model": "kimi-k3", "stream": True, "messages": [], "pieces": 1})
    texts = pieces["chunks"][:-1]
    assert all(isinstance(text, str) for text in texts)
    assert "".join(texts) == "".join(f'w{i} "q"' for i in range(5))
    assert pieces["chunks"][-1] == whole["chunks"][-1]  # the finish chunk, parsed whole
    assert "late_error" not in pieces
    # All in one frame: one read, its text-only chunks as one piece.
    gateway.reply = lambda seen: sse_reply(events, per_frame=len(events) + 1)
    burst = await _post(probe, {"model": "kimi-k3", "stream": True, "messages": [], "pieces": 1})
    assert burst["chunks"] == ["".join(texts), whole["chunks"][-1]]


async def test_unknown_model_is_refused_before_anything_is_sent(
    probe: ProxyClient, gateway: FakeGateway
) -> None:
    assert (await probe.app[CATALOG_KEY].refresh()).known
    out = await _post(probe, {"model": "claude-x", "messages": []})
    assert out["status"] == 400 and out["early_error"]["error"]["code"] == "model_not_found"
    assert gateway.requests == 0


async def test_enclave_error_status_keeps_status_type_and_code(
    probe: ProxyClient, gateway: FakeGateway
) -> None:
    err = {
        "error": {
            "message": "too long",
            "type": "invalid_request_error",
            "code": "context_length_exceeded",
        }
    }
    gateway.reply = lambda seen: json_reply(err, status=400)
    out = await _post(probe, {"model": "kimi-k3", "stream": True, "messages": []})
    assert out["status"] == 400
    assert out["early_error"]["error"] == {
        "message": "too long",
        "type": "invalid_request_error",
        "code": "context_length_exceeded",
    }


async def test_in_stream_error_event_is_raised_after_the_chunks(
    probe: ProxyClient, gateway: FakeGateway
) -> None:
    events = [chunk("a", "m"), {"error": {"message": "overloaded", "type": "server_error"}}]
    gateway.reply = lambda seen: sse_reply(events)
    out = await _post(probe, {"model": "kimi-k3", "stream": True, "messages": []})
    assert len(out["chunks"]) == 1
    assert out["late_error"]["error"]["message"] == "overloaded"


async def test_tampered_frame_is_never_handed_over(
    probe: ProxyClient, gateway: FakeGateway
) -> None:
    events = [chunk("a", "m"), chunk("b", "m"), chunk("c", "m")]

    def reply(seen: Any) -> Reply:
        r = sse_reply(events)
        r.tamper_frame = 1
        return r

    gateway.reply = reply
    out = await _post(probe, {"model": "kimi-k3", "stream": True, "messages": []})
    assert [c["choices"][0]["delta"]["content"] for c in out["chunks"]] == ["a"]
    assert out["late_error"]["error"]["code"].startswith("ehbp")


async def test_tampered_first_frame_is_an_early_error(
    probe: ProxyClient, gateway: FakeGateway
) -> None:
    def reply(seen: Any) -> Reply:
        r = json_reply(chat_completion("x", "m"))
        r.tamper_frame = 0
        return r

    gateway.reply = reply
    out = await _post(probe, {"model": "kimi-k3", "messages": []})
    assert out["status"] == 502 and "json" not in out


async def test_key_rotation_is_retried_once_with_a_fresh_seal(
    probe: ProxyClient, gateway: FakeGateway
) -> None:
    gateway.reply = lambda seen: json_reply(chat_completion("ok", "m"))
    gateway.rotate_key()  # the unsafe provider keeps the old key: 422, refresh, 422 again
    out = await _post(probe, {"model": "kimi-k3", "messages": []})
    assert out["status"] == 502 and out["early_error"]["error"]["code"] == "ehbp_key_config_error"
    assert gateway.requests == 2
