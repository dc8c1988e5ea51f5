"""Guards in isolation: Host, Origin/CORS, content type, token, load limits.

Each test mounts `privproxy.server.guards` in front of a recording handler and asserts both what the
client gets and whether the handler (the only path to the gateway) ran at all. The same
refusals through the full app, with a fake gateway, are in `test_security_gateway.py`.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient, AiohttpServer

from privproxy.server import guards
from privproxy.server.config import Settings

TOKEN = "test-token-0123456789abcdef"
JSON = {"Content-Type": "application/json"}

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[tuple[Client, list[str]]]]


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"state_dir": tmp_path / "state", "cache_dir": tmp_path / "cache"}
    values.update(overrides)
    return Settings(**values)


def _guarded_app(
    settings: Settings, calls: list[str], gate: asyncio.Event | None = None
) -> web.Application:
    async def record(request: web.Request) -> web.StreamResponse:
        calls.append(f"{request.method} {request.path}")
        if gate is not None and request.path != "/healthz":
            await gate.wait()
        if request.path == "/stream":
            response = web.StreamResponse()
            await response.prepare(request)
            await response.write(b"data: x\n\n")
            await response.write_eof()
            return response
        return web.json_response({"ok": True})

    app = web.Application(
        middlewares=guards.build_middlewares(settings), **guards.server_options(settings)
    )
    guards.install(app)
    app.router.add_route("*", "/{tail:.*}", record)
    return app


@pytest.fixture
def make_client(aiohttp_client: AiohttpClient, tmp_path: Path) -> MakeClient:
    async def make(**overrides: Any) -> tuple[Client, list[str]]:
        calls: list[str] = []
        client = await aiohttp_client(_guarded_app(_settings(tmp_path, **overrides), calls))
        return client, calls

    return make


# --- Host allowlist (DNS rebinding) -------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1:8787", "localhost:8787", "LOCALHOST", "[::1]:8787", "127.9.9.9", "localhost."],
)
async def test_loopback_hosts_accepted(make_client: MakeClient, host: str) -> None:
    client, calls = await make_client()
    resp = await client.get("/v1/models", headers={"Host": host})
    assert resp.status == 200
    assert calls == ["GET /v1/models"]


@pytest.mark.parametrize(
    "host",
    [
        "evil.example:8787",
        "evil.example",
        "127.0.0.1.evil.example",
        "10.0.0.5:8787",
        "localhost.evil.example",
    ],
)
async def test_foreign_host_refused_before_handler(make_client: MakeClient, host: str) -> None:
    client, calls = await make_client()
    resp = await client.post("/v1/chat/completions", json={"model": "x"}, headers={"Host": host})
    assert resp.status == 403
    body = await resp.json()
    assert body["error"]["code"] == "host_not_allowed"
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert calls == []


async def test_configured_host_and_bind_address_accepted(make_client: MakeClient) -> None:
    client, calls = await make_client(
        host="192.0.2.10", allowed_hosts=("Proxy.Internal",), token=TOKEN
    )
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert (await client.get("/x", headers={**auth, "Host": "proxy.internal:8787"})).status == 200
    assert (await client.get("/x", headers={**auth, "Host": "192.0.2.10:8787"})).status == 200
    assert (await client.get("/x", headers={**auth, "Host": "other.internal:8787"})).status == 403
    assert calls == ["GET /x", "GET /x"]


async def test_missing_host_refused(make_client: MakeClient) -> None:
    client, calls = await make_client()
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(b"GET /v1/models HTTP/1.0\r\n\r\n")
    await writer.drain()
    raw = await reader.read()
    writer.close()
    await writer.wait_closed()
    assert raw.startswith(b"HTTP/1.0 403") or raw.startswith(b"HTTP/1.1 403")
    assert calls == []


# --- Origin and CORS ------------------------------------------------------------------------


async def test_foreign_origin_refused_without_cors_headers(make_client: MakeClient) -> None:
    client, calls = await make_client(allowed_origins=("http://localhost:3000",))
    resp = await client.post(
        "/v1/chat/completions", json={}, headers={"Origin": "https://evil.example"}
    )
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "origin_not_allowed"
    assert not any(h.lower().startswith("access-control-") for h in resp.headers)
    assert calls == []


@pytest.mark.parametrize(
    "origin", ["null", "http://localhost:3001", "http://localhost", "https://localhost:3000"]
)
async def test_near_miss_origins_refused(make_client: MakeClient, origin: str) -> None:
    client, calls = await make_client(allowed_origins=("http://localhost:3000",))
    resp = await client.get("/v1/models", headers={"Origin": origin})
    assert resp.status == 403
    assert calls == []


async def test_allowed_origin_gets_its_own_cors_header_never_star(make_client: MakeClient) -> None:
    client, calls = await make_client(allowed_origins=("http://localhost:3000/",))
    resp = await client.post(
        "/v1/chat/completions", json={}, headers={"Origin": "http://localhost:3000"}
    )
    assert resp.status == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert resp.headers["Vary"] == "Origin"
    streamed = await client.get("/stream", headers={"Origin": "http://localhost:3000"})
    assert streamed.status == 200
    assert streamed.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert calls == ["POST /v1/chat/completions", "GET /stream"]


async def test_no_cors_headers_without_origin_or_same_origin(make_client: MakeClient) -> None:
    client, calls = await make_client(allowed_origins=("http://localhost:3000",))
    plain = await client.get("/v1/models")
    same = await client.post(
        "/v1/chat/completions",
        json={},
        headers={"Origin": f"http://127.0.0.1:{client.port}", "Host": f"127.0.0.1:{client.port}"},
    )
    for resp in (plain, same):
        assert resp.status == 200
        assert "Access-Control-Allow-Origin" not in resp.headers
    assert len(calls) == 2


async def test_preflight_allowed_origin_answered_by_guard(make_client: MakeClient) -> None:
    client, calls = await make_client(allowed_origins=("http://localhost:3000",))
    resp = await client.options(
        "/v1/chat/completions",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization, x-stainless-os, x-evil",
            "Access-Control-Request-Private-Network": "true",
        },
    )
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert resp.headers["Access-Control-Allow-Methods"] == "GET, POST, OPTIONS"
    allowed = {h.strip() for h in resp.headers["Access-Control-Allow-Headers"].split(",")}
    assert allowed == {"content-type", "authorization", "x-stainless-os"}
    assert resp.headers["Access-Control-Allow-Private-Network"] == "true"
    assert calls == []


async def test_preflight_foreign_origin_refused(make_client: MakeClient) -> None:
    client, calls = await make_client()
    resp = await client.options(
        "/v1/chat/completions",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert resp.status == 403
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert calls == []


# --- Content type ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        None,
    ],
)
async def test_cors_simple_or_missing_content_type_refused(
    make_client: MakeClient, content_type: str | None
) -> None:
    client, calls = await make_client()
    headers = {} if content_type is None else {"Content-Type": content_type}
    resp = await client.post(
        "/v1/chat/completions",
        data=b'{"model":"x","messages":[]}',
        headers=headers,
        skip_auto_headers=["Content-Type"],
    )
    assert resp.status == 415
    assert (await resp.json())["error"]["code"] == "unsupported_media_type"
    assert calls == []


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "application/vnd.api+json"],
)
async def test_json_content_types_pass(make_client: MakeClient, content_type: str) -> None:
    client, calls = await make_client()
    resp = await client.post(
        "/v1/chat/completions", data=b"{}", headers={"Content-Type": content_type}
    )
    assert resp.status == 200
    assert calls == ["POST /v1/chat/completions"]


# --- Local token ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer wrong-token-0123456789",
        f"Basic {TOKEN}",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
    ],
)
async def test_missing_or_wrong_token_refused(
    make_client: MakeClient, authorization: str | None
) -> None:
    client, calls = await make_client(token=TOKEN)
    headers = dict(JSON)
    if authorization is not None:
        headers["Authorization"] = authorization
    resp = await client.post("/v1/chat/completions", data=b"{}", headers=headers)
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    body = await resp.json()
    assert body["error"]["type"] == "authentication_error"
    assert TOKEN not in await resp.text()
    assert calls == []


async def test_right_token_passes_and_probes_are_exempt(make_client: MakeClient) -> None:
    client, calls = await make_client(token=TOKEN)
    ok = await client.post(
        "/v1/chat/completions", data=b"{}", headers={**JSON, "Authorization": f"bearer {TOKEN}"}
    )
    assert ok.status == 200
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/v1/models")).status == 401
    assert (await client.post("/healthz", data=b"{}", headers=JSON)).status == 401
    assert calls == ["POST /v1/chat/completions", "GET /healthz"]


async def test_non_loopback_bind_turns_token_on(make_client: MakeClient, tmp_path: Path) -> None:
    client, calls = await make_client(host="0.0.0.0")
    assert (await client.get("/v1/models")).status == 401
    token = (tmp_path / "state" / "token").read_text().strip()
    resp = await client.get("/v1/models", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200
    assert calls == ["GET /v1/models"]


async def test_preflight_needs_no_token_but_refusal_carries_cors(make_client: MakeClient) -> None:
    client, calls = await make_client(token=TOKEN, allowed_origins=("http://localhost:3000",))
    pre = await client.options(
        "/v1/chat/completions",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
    )
    assert pre.status == 204
    refused = await client.post(
        "/v1/chat/completions", data=b"{}", headers={**JSON, "Origin": "http://localhost:3000"}
    )
    assert refused.status == 401
    # The allowed page may read why it was refused; a foreign one would have got 403 earlier.
    assert refused.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert calls == []


# --- Load limits ----------------------------------------------------------------------------


async def test_declared_oversized_body_refused_unread(make_client: MakeClient) -> None:
    client, calls = await make_client(max_body_bytes=1024)
    resp = await client.post("/v1/chat/completions", data=b"x" * 2048, headers=JSON)
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "request_too_large"
    assert calls == []
    ok = await client.post("/v1/chat/completions", data=b"{}", headers=JSON)
    assert ok.status == 200


async def test_concurrency_limit_sheds_load_then_recovers(
    aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    calls: list[str] = []
    gate = asyncio.Event()
    client = await aiohttp_client(
        _guarded_app(_settings(tmp_path, max_concurrent_requests=2), calls, gate)
    )
    held = [asyncio.create_task(client.get("/v1/models")) for _ in range(2)]
    while len(calls) < 2:
        await asyncio.sleep(0.01)
    busy = await client.get("/v1/models")
    assert busy.status == 503
    assert busy.headers["Retry-After"] == "1"
    assert (await client.get("/healthz")).status == 200  # probes bypass the limit
    gate.set()
    assert [r.status for r in await asyncio.gather(*held)] == [200, 200]
    assert (await client.get("/v1/models")).status == 200


async def test_too_many_headers_refused(make_client: MakeClient) -> None:
    client, calls = await make_client()
    headers = {f"X-Filler-{i}": "v" for i in range(guards.MAX_HEADERS + 5)}
    resp = await client.get("/v1/models", headers=headers)
    assert resp.status in (400, 431)
    assert calls == []


async def test_slow_header_sender_cut_and_others_served(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    calls: list[str] = []
    server = await aiohttp_server(_guarded_app(_settings(tmp_path, client_read_timeout=0.5), calls))
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    await writer.drain()
    client: TestClient[web.Request, None] = await aiohttp_client(server)
    assert (await client.get("/v1/models")).status == 200
    # The server closes the trickling connection within the deadline (never answered it).
    data = await asyncio.wait_for(reader.read(), timeout=5)
    assert data == b""
    writer.close()
    assert calls == ["GET /v1/models"]


async def test_token_compared_in_constant_time(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    client, _ = await make_client(token=TOKEN)
    assert (await client.get("/x", headers={"Authorization": "Bearer guess"})).status == 401
    assert (await client.get("/x", headers={"Authorization": f"Bearer {TOKEN}"})).status == 200
    # Both places a token may travel (Authorization, x-api-key) are always compared.
    assert compared == [
        (b"guess", TOKEN.encode()),
        (b"", TOKEN.encode()),
        (TOKEN.encode(), TOKEN.encode()),
        (b"", TOKEN.encode()),
    ]


async def test_token_accepted_in_x_api_key(make_client: MakeClient) -> None:
    client, _ = await make_client(token=TOKEN)
    assert (await client.get("/x", headers={"x-api-key": TOKEN})).status == 200
    assert (await client.get("/x", headers={"x-api-key": "guess"})).status == 401
    wrong_bearer = {"Authorization": "Bearer guess", "x-api-key": TOKEN}
    assert (await client.get("/x", headers=wrong_bearer)).status == 200
    refused = await client.post("/v1/messages", json={}, headers={"x-api-key": "guess"})
    assert refused.status == 401
    assert (await refused.json())["error"]["type"] == "authentication_error"
    assert (await refused.json())["type"] == "error"  # Anthropic's shape on this route


def test_public_bind_without_token_refused_at_app_creation(tmp_path: Path) -> None:
    from privproxy.server.app import create_app
    from privproxy.server.config import ConfigError

    with pytest.raises(ConfigError, match="requires the local token"):
        create_app(_settings(tmp_path, host="0.0.0.0", require_token=False))
