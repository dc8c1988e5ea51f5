"""Router-side options: refused by default with a 400 naming the flag, passed when allowed."""

from __future__ import annotations

import pytest

from privproxy.server.app_keys import CATALOG_KEY
from privproxy.server.config import ConfigError, Settings
from privproxy.server.router_options import (
    ROUTER_OPTIONS,
    RouterOptionRefusedError,
    check_router_options,
)
from tests.privproxy.conftest import MakeProxy, ProxyClient
from tests.privproxy.fake_gateway import FakeGateway, chat_completion, json_reply

CHAT = {"model": "private/kimi-k3", "messages": [{"role": "user", "content": "hi"}]}
OPTIONS = sorted(ROUTER_OPTIONS)


def test_the_four_options() -> None:
    assert set(OPTIONS) == {
        "web_search_options",
        "code_execution_options",
        "pii_check_options",
        "auto_model_options",
    }


@pytest.mark.parametrize("name", OPTIONS)
def test_pure_check(name: str) -> None:
    with pytest.raises(RouterOptionRefusedError, match=f"--allow-router-option {name}"):
        check_router_options({"model": "x", name: {}}, ())
    with pytest.raises(RouterOptionRefusedError):  # presence counts, whatever the value
        check_router_options({name: None}, [o for o in OPTIONS if o != name])
    check_router_options({"model": "x", name: {}}, [name])
    check_router_options({"model": "x", "tools": []}, ())


@pytest.mark.parametrize("name", OPTIONS)
async def test_refused_by_default(proxy: ProxyClient, gateway: FakeGateway, name: str) -> None:
    resp = await proxy.post("/v1/chat/completions", json={**CHAT, name: {"x": 1}})
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == "router_option_not_allowed"
    assert name in error["message"] and f"--allow-router-option {name}" in error["message"]
    assert gateway.seen == []  # nothing reached the gateway


@pytest.mark.parametrize("name", OPTIONS)
async def test_passed_when_allowed(make_proxy: MakeProxy, gateway: FakeGateway, name: str) -> None:
    gateway.reply = lambda seen: json_reply(chat_completion("ok", "kimi-k3"))
    client = await make_proxy(allowed_router_options=(name,))
    resp = await client.post("/v1/chat/completions", json={**CHAT, name: {"x": 1}})
    assert resp.status == 200
    assert gateway.seen[-1].body[name] == {"x": 1}  # sealed through unchanged
    others = [o for o in OPTIONS if o != name]
    resp = await client.post("/v1/chat/completions", json={**CHAT, others[0]: {}})
    assert resp.status == 400


async def test_allowed_list_is_published(make_proxy: MakeProxy) -> None:
    client = await make_proxy(allowed_router_options=("web_search_options",))
    doc = await (await client.get("/v1/verification")).json()
    assert doc["allowed_router_options"] == ["web_search_options"]
    page = await (await client.get("/", headers={"Accept": "text/html"})).text()
    assert "Router-side options allowed" in page and "web_search_options" in page
    default = await make_proxy()
    doc = await (await default.get("/v1/verification")).json()
    assert doc["allowed_router_options"] == []


def test_settings_flag_and_env() -> None:
    s = Settings.from_env_and_args(
        {"PRIVPROXY_ALLOW_ROUTER_OPTIONS": "pii_check_options, web_search_options"}, []
    )
    assert s.allowed_router_options == ("pii_check_options", "web_search_options")
    s = Settings.from_env_and_args(
        {"PRIVPROXY_ALLOW_ROUTER_OPTIONS": "pii_check_options"},
        ["--allow-router-option", "auto_model_options"],
    )
    assert s.allowed_router_options == ("auto_model_options",)  # the flag wins
    with pytest.raises(ConfigError, match="unknown router option 'nope'"):
        Settings.from_env_and_args({"PRIVPROXY_ALLOW_ROUTER_OPTIONS": "nope"}, [])


@pytest.mark.parametrize("name", OPTIONS)
async def test_in_process_chat_bodies_are_checked_too(
    proxy: ProxyClient, gateway: FakeGateway, name: str
) -> None:
    # The translated APIs (Responses, Messages) seal bodies they build through `open_chat`.
    from aiohttp.test_utils import make_mocked_request

    from privproxy.api.sealed_chat import open_chat

    await proxy.app[CATALOG_KEY].refresh()  # no catalog fetch left in flight at teardown
    request = make_mocked_request("POST", "/v1/responses", app=proxy.app)
    with pytest.raises(RouterOptionRefusedError, match=name):
        await open_chat(request, {**CHAT, name: {}})
    assert gateway.seen == []
