"""Request ids: echoed or generated, on every answer and error body, never sent upstream."""

from __future__ import annotations

import re

import pytest

from privproxy.ops.request_id import MAX_LENGTH, accept_or_new, is_well_formed
from tests.privproxy.conftest import MakeProxy, ProxyClient
from tests.privproxy.fake_gateway import FakeGateway, chat_completion, chunk, json_reply, sse_reply

CHAT = {"model": "private/kimi-k3", "messages": [{"role": "user", "content": "hi"}]}
_GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("abc-123", True),
        ("0f8fad5b-d9cb-469f-a165-70867728950e", True),
        ("01HZX3:trace.span_1", True),
        ("a" * MAX_LENGTH, True),
        ("a" * (MAX_LENGTH + 1), False),
        ("", False),
        ("has space", False),
        ("line\nbreak", False),
        ('quote"', False),
        ("ünïcode", False),
    ],
)
def test_well_formed(value: str, kept: bool) -> None:
    assert is_well_formed(value) is kept
    assert (accept_or_new(value) == value) is kept


def test_generated_ids_are_random() -> None:
    ids = {accept_or_new(None) for _ in range(50)}
    assert len(ids) == 50 and all(_GENERATED.fullmatch(i) for i in ids)


def _upstream_headers(gateway: FakeGateway) -> dict[str, str]:
    return {k.lower(): v for k, v in gateway.seen[-1].headers.items()}


async def test_client_id_echoed_and_not_forwarded(proxy: ProxyClient, gateway: FakeGateway) -> None:
    gateway.reply = lambda seen: json_reply(chat_completion("ok", "kimi-k3"))
    resp = await proxy.post("/v1/chat/completions", json=CHAT, headers={"X-Request-Id": "req-42"})
    assert resp.status == 200
    assert resp.headers["X-Request-Id"] == "req-42"
    upstream = _upstream_headers(gateway)
    assert "x-request-id" not in upstream
    assert all("req-42" not in v for v in upstream.values())


async def test_id_generated_when_missing_or_malformed(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    seen = set()
    for headers in ({}, {"X-Request-Id": "bad id"}, {"X-Request-Id": "x" * 200}):
        resp = await proxy.post("/v1/chat/completions", json=CHAT, headers=headers)
        assert resp.status == 200
        rid = resp.headers["X-Request-Id"]
        assert _GENERATED.fullmatch(rid)
        assert "x-request-id" not in _upstream_headers(gateway)
        seen.add(rid)
    assert len(seen) == 3


async def test_streamed_answer_carries_id(proxy: ProxyClient, gateway: FakeGateway) -> None:
    gateway.reply = lambda seen: sse_reply([chunk("a", "kimi-k3"), chunk("b", "kimi-k3")])
    resp = await proxy.post(
        "/v1/chat/completions", json={**CHAT, "stream": True}, headers={"X-Request-Id": "s-1"}
    )
    assert resp.status == 200 and resp.headers["X-Request-Id"] == "s-1"
    assert b"[DONE]" in await resp.read()


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"json": {**CHAT, "model": "no such model!"}}, 400),  # handler error
        ({"data": b"{}", "headers": {"Content-Type": "text/plain"}}, 415),  # guard refusal
        ({"data": b"[1]", "headers": {"Content-Type": "application/json"}}, 400),
    ],
)
async def test_error_bodies_carry_id(
    proxy: ProxyClient, gateway: FakeGateway, kwargs: dict[str, object], status: int
) -> None:
    headers = dict(kwargs.pop("headers", {}) or {})  # type: ignore[call-overload]
    headers["X-Request-Id"] = "err-7"
    resp = await proxy.post("/v1/chat/completions", headers=headers, **kwargs)  # type: ignore[arg-type]
    assert resp.status == status
    assert resp.headers["X-Request-Id"] == "err-7"
    assert (await resp.json())["error"]["request_id"] == "err-7"
    assert gateway.seen == []


async def test_probes_and_models_carry_id(proxy: ProxyClient) -> None:
    for path in ("/healthz", "/readyz", "/v1/models", "/health"):
        resp = await proxy.get(path, headers={"X-Request-Id": "p-1"})
        assert resp.headers["X-Request-Id"] == "p-1", path


async def test_allowed_origins_may_read_the_id(make_proxy: MakeProxy, gateway: FakeGateway) -> None:
    gateway.reply = lambda seen: json_reply(chat_completion("ok", "kimi-k3"))
    client = await make_proxy(allowed_origins=("http://localhost:3000",))
    origin = {"Origin": "http://localhost:3000", "X-Request-Id": "cors-1"}
    resp = await client.post("/v1/chat/completions", json=CHAT, headers=origin)
    assert resp.status == 200 and resp.headers["X-Request-Id"] == "cors-1"
    assert resp.headers["Access-Control-Expose-Headers"] == "X-Request-Id"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/messages", {"model": "private/kimi-k3", "max_tokens": 64, "stream": True,
                          "messages": [{"role": "user", "content": "hi"}]}),
        ("/v1/responses", {"model": "private/kimi-k3", "input": "hi", "stream": True}),
    ],
)  # fmt: skip
async def test_translated_streams_carry_id(
    proxy: ProxyClient, gateway: FakeGateway, path: str, body: dict[str, object]
) -> None:
    final = chunk("", "kimi-k3", finish="stop")
    gateway.reply = lambda seen: sse_reply([chunk("hello", "kimi-k3"), final])
    resp = await proxy.post(path, json=body, headers={"X-Request-Id": "tr-1"})
    assert resp.status == 200 and resp.content_type == "text/event-stream"
    assert resp.headers["X-Request-Id"] == "tr-1"
    await resp.read()
