"""Local routes of the Node-compatible API (docs/protocol.md §4.2): health, models, OPTIONS, 404."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web

from privproxy.api.chat import prefers_html
from privproxy.gateway.catalog import MODELS
from privproxy.ops import status_routes
from privproxy.server.app_keys import CATALOG_KEY
from tests.privproxy.conftest import MakeProxy, ProxyClient
from tests.privproxy.fake_gateway import FakeGateway


async def test_health_reports_provider_fields(proxy: ProxyClient) -> None:
    for path in ("/health", "/", "/health?x=1"):
        resp = await proxy.get(path)
        assert resp.status == 200
        assert resp.content_type == "application/json"
        body = await resp.json()
        assert body["status"] == "ok"
        # The unsafe provider must never claim attestation.
        assert body["attestation"] is False
        assert body["unsafe"] is True
        assert body["apiKeyConfigured"] is True
        assert "simulated" not in body


async def test_health_marks_simulated(make_proxy: MakeProxy) -> None:
    client = await make_proxy(simulated=True, api_key=None)
    body = await (await client.get("/health")).json()
    assert body["simulated"] is True
    assert body["apiKeyConfigured"] is False


async def test_root_serves_status_page_to_browsers(
    proxy: ProxyClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def page(request: web.Request) -> web.StreamResponse:
        return web.Response(text="<html>status</html>", content_type="text/html")

    monkeypatch.setattr(status_routes, "status_page", page, raising=False)
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    resp = await proxy.get("/", headers={"Accept": browser})
    assert resp.content_type == "text/html"
    assert await resp.text() == "<html>status</html>"
    resp = await proxy.get("/", headers={"Accept": "application/json"})
    assert (await resp.json())["status"] == "ok"


def test_prefers_html() -> None:
    assert prefers_html("text/html")
    assert prefers_html("text/html;q=0.9, application/json;q=0.5")
    assert not prefers_html("application/json, text/html")
    assert not prefers_html("*/*")
    assert not prefers_html("")
    assert not prefers_html("text/html;q=0.1, application/json")
    assert not prefers_html("text/html;q=bogus, application/json;q=0.2")


async def test_models_from_gateway_catalog(proxy: ProxyClient, gateway: FakeGateway) -> None:
    await proxy.app[CATALOG_KEY].refresh()
    resp = await proxy.get("/v1/models")
    assert resp.status == 200
    body = await resp.json()
    assert body == {
        "object": "list",
        "data": [
            {"id": "private/kimi-k3", "object": "model", "created": 0, "owned_by": "ppq-private"},
            {
                "id": "private/gpt-oss-120b",
                "object": "model",
                "created": 0,
                "owned_by": "ppq-private",
            },
        ],
    }


async def test_models_fallback_when_catalog_down(
    make_proxy: MakeProxy, gateway: FakeGateway
) -> None:
    gateway.catalog_status = 503
    client = await make_proxy()
    view = await client.app[CATALOG_KEY].refresh()
    assert view.known is False
    body = await (await client.get("/v1/models")).json()
    assert [m["id"] for m in body["data"]] == [m.id for m in MODELS]
    assert body["data"][0]["id"] == "private/kimi-k3"


async def test_models_fallback_on_garbage_catalog(
    make_proxy: MakeProxy, gateway: FakeGateway
) -> None:
    gateway.catalog = {"unexpected": True}
    client = await make_proxy()
    assert (await client.app[CATALOG_KEY].refresh()).known is False
    gateway.catalog = [{"id": "gpt-4o"}]  # no private model: keep the fallback too
    client = await make_proxy()
    assert (await client.app[CATALOG_KEY].refresh()).known is False
    gateway.catalog = [{"id": "private/llama3-3-70b"}, {"id": "private/bad id"}, {"id": 7}]
    client = await make_proxy()
    view = await client.app[CATALOG_KEY].refresh()
    assert view.known is True
    assert view.ids == ("private/llama3-3-70b",)


async def test_options_any_path_is_204_without_cors(proxy: ProxyClient) -> None:
    for path in ("/v1/chat/completions", "/anything/else", "/"):
        resp = await proxy.options(path)
        assert resp.status == 204
        assert await resp.read() == b""
        assert not any(h.lower().startswith("access-control-") for h in resp.headers)


@pytest.mark.parametrize(
    ("method", "path", "shown"),
    [
        ("POST", "/v1/models", "POST /v1/models"),
        ("GET", "/v1/chat/completions", "GET /v1/chat/completions"),
        ("GET", "/v1/models/", "GET /v1/models/"),
        ("POST", "/chat/completions", "POST /chat/completions"),
        ("GET", "/nope?secret=1", "GET /nope"),
        ("DELETE", "/health", "DELETE /health"),
    ],
)
async def test_unknown_endpoint_is_node_json_404(
    proxy: ProxyClient, method: str, path: str, shown: str
) -> None:
    # A JSON body keeps the content-type guard (415) out of the way for non-GET methods.
    resp = await proxy.request(method, path, json={} if method != "GET" else None)
    assert resp.status == 404
    assert await resp.json() == {
        "error": {"message": f"Unknown endpoint: {shown}", "type": "invalid_request_error"}
    }
    assert "*" not in "".join(resp.headers.values())


async def test_no_wildcard_cors_anywhere(proxy: ProxyClient) -> None:
    for resp in await asyncio.gather(
        proxy.get("/health", headers={"Origin": "https://evil.example"}),
        proxy.get("/v1/models", headers={"Origin": "https://evil.example"}),
    ):
        assert resp.headers.get("Access-Control-Allow-Origin") is None


async def test_json_answers_are_compact_like_node(proxy: ProxyClient) -> None:
    for path in ("/v1/models", "/health", "/nope"):
        raw = await (await proxy.get(path)).read()
        assert raw == json.dumps(json.loads(raw), separators=(",", ":")).encode(), path
