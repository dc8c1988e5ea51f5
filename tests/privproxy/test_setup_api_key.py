"""`POST /setup/api-key`: the PPQ key stored for later requests (0600, atomically, in the
state directory), accepted with the local token or from the status page's own form, never
from another origin, never echoed or logged."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from privproxy.server.api_key_store import ApiKeyStore, api_key_path
from privproxy.server.config import ConfigError, Settings
from tests.privproxy.conftest import API_KEY, MakeProxy, ProxyClient
from tests.privproxy.fake_gateway import FakeGateway
from tests.privproxy.test_status_session import (
    FORM,
    HTML,
    TOKEN,
    origin,
    session_cookie,
    sign_in,
    with_cookie,
)

NEW_KEY = "sk-storedKey_0123456789abcdef"
CHAT = {"model": "private/kimi-k3", "messages": [{"role": "user", "content": "Hello"}]}
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def keyless(make_proxy: MakeProxy) -> ProxyClient:
    """Token mode, no PPQ key configured."""
    client = await make_proxy(api_key=None, require_token=True, token=SecretStr(TOKEN))
    client.session.cookie_jar.clear()
    return client


def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"  # as `proxy_settings` sets it


async def test_stored_with_the_token_and_used_by_later_requests(
    keyless: ProxyClient, gateway: FakeGateway, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    before = await keyless.post("/v1/chat/completions", json=CHAT, headers=BEARER)
    assert before.status == 401
    assert (await before.json())["error"]["code"] == "missing_api_key"

    resp = await keyless.post("/setup/api-key", json={"apiKey": NEW_KEY}, headers=BEARER)
    assert resp.status == 200
    body = await resp.text()
    assert body == '{"stored": true}'  # the key is not echoed

    path = api_key_path(state_dir(tmp_path))
    assert path.read_text(encoding="ascii") == NEW_KEY + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == ["api_key"]  # no temporary left

    after = await keyless.post("/v1/chat/completions", json=CHAT, headers=BEARER)
    assert after.status == 200
    assert gateway.seen[-1].headers["Authorization"] == f"Bearer {NEW_KEY}"
    health = await (await keyless.get("/health")).json()
    assert health["apiKeyConfigured"] is True
    assert NEW_KEY not in caplog.text


async def test_a_new_key_replaces_the_stored_one(keyless: ProxyClient, tmp_path: Path) -> None:
    second = "sk-secondKey_abcdefghijklmn"
    for key in (NEW_KEY, second):
        resp = await keyless.post("/setup/api-key", json={"apiKey": key}, headers=BEARER)
        assert resp.status == 200
    assert api_key_path(state_dir(tmp_path)).read_text(encoding="ascii") == second + "\n"


async def test_stored_from_the_status_page_form(keyless: ProxyClient, tmp_path: Path) -> None:
    page = await keyless.get("/", headers=HTML)
    assert page.status == 401  # the login form first
    cookie = session_cookie(await sign_in(keyless))
    page = await keyless.get("/", headers=with_cookie(cookie, **HTML))
    html = await page.text()
    assert '<form method="post" action="/setup/api-key"' in html
    assert 'http-equiv="refresh"' not in html  # a refresh would wipe what is being typed
    resp = await keyless.post(
        "/setup/api-key",
        data=f"apiKey={NEW_KEY}",
        headers=with_cookie(
            cookie,
            Origin=origin(keyless),
            **{"Content-Type": FORM, "Sec-Fetch-Site": "same-origin"},
        ),
        allow_redirects=False,
    )
    assert resp.status == 303
    assert api_key_path(state_dir(tmp_path)).read_text(encoding="ascii") == NEW_KEY + "\n"
    page = await keyless.get("/", headers=with_cookie(cookie, **HTML))
    html = await page.text()
    assert "A PPQ API key is stored" in html
    assert NEW_KEY not in html


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Origin": "http://evil.example", **BEARER}, 403),  # never cross-origin
        ({"Origin": "http://app.example", **BEARER}, 403),  # not even an allowed origin
        ({"Sec-Fetch-Site": "cross-site", **BEARER}, 403),
        ({}, 401),  # neither token nor session
        ({"Authorization": "Bearer wrong-token-0123456789"}, 401),
    ],
)
async def test_refused_without_token_or_from_another_origin(
    make_proxy: MakeProxy, tmp_path: Path, headers: dict[str, str], status: int
) -> None:
    client = await make_proxy(
        api_key=None,
        require_token=True,
        token=SecretStr(TOKEN),
        allowed_origins=("http://app.example",),
    )
    resp = await client.post("/setup/api-key", json={"apiKey": NEW_KEY}, headers=headers)
    assert resp.status == status
    assert not api_key_path(state_dir(tmp_path)).exists()


async def test_cross_origin_form_post_is_refused_in_every_mode(make_proxy: MakeProxy) -> None:
    # The classic CSRF: a page elsewhere auto-submits a form (no preflight for form types).
    for token_mode in (False, True):
        client = await make_proxy(
            api_key=None,
            require_token=token_mode,
            token=SecretStr(TOKEN) if token_mode else None,
        )
        resp = await client.post(
            "/setup/api-key",
            data=f"apiKey={NEW_KEY}",
            headers={"Origin": "http://evil.example", "Content-Type": FORM},
        )
        assert resp.status == 403, token_mode


async def test_form_post_without_origin_is_refused(make_proxy: MakeProxy) -> None:
    # A form encoding is only accepted from the page itself (the JSON rule otherwise holds).
    client = await make_proxy(api_key=None)
    resp = await client.post(
        "/setup/api-key", data=f"apiKey={NEW_KEY}", headers={"Content-Type": FORM}
    )
    assert resp.status == 415


async def test_without_token_mode_a_local_json_call_may_store(
    make_proxy: MakeProxy, tmp_path: Path
) -> None:
    client = await make_proxy(api_key=None)
    resp = await client.post("/setup/api-key", json={"apiKey": NEW_KEY})
    assert resp.status == 200
    assert api_key_path(state_dir(tmp_path)).exists()


async def test_a_configured_key_cannot_be_replaced(proxy: ProxyClient, tmp_path: Path) -> None:
    resp = await proxy.post("/setup/api-key", json={"apiKey": NEW_KEY})
    assert resp.status == 409
    assert "PPQ_API_KEY" in (await resp.json())["error"]["message"]
    assert not api_key_path(state_dir(tmp_path)).exists()


@pytest.mark.parametrize(
    "body", [{"apiKey": "not-a-key-0123456789"}, {"apiKey": "sk-short"}, {"key": NEW_KEY}, {}]
)
async def test_malformed_keys_are_refused_and_not_echoed(
    keyless: ProxyClient, tmp_path: Path, body: dict[str, str]
) -> None:
    resp = await keyless.post("/setup/api-key", json=body, headers=BEARER)
    assert resp.status == 400
    text = await resp.text()
    for value in body.values():
        assert value not in text
    assert not api_key_path(state_dir(tmp_path)).exists()


@pytest.mark.parametrize("raw", [b"[" * 4000, b"\xff\xfe", b'{"apiKey": ', b"[]", b'{"apiKey": 1}'])
async def test_hostile_bodies_are_400s(keyless: ProxyClient, raw: bytes) -> None:
    headers = {**BEARER, "Content-Type": "application/json"}
    resp = await keyless.post("/setup/api-key", data=raw, headers=headers)
    assert resp.status == 400


async def test_the_missing_key_message_in_token_mode_does_not_suggest_a_caller_key(
    keyless: ProxyClient,
) -> None:
    resp = await keyless.post("/v1/chat/completions", json=CHAT, headers=BEARER)
    message = (await resp.json())["error"]["message"]
    assert "Bearer sk-" not in message
    assert "/setup/api-key" in message and "PPQ_API_KEY" in message


async def test_the_missing_key_message_without_token_mode_suggests_it(
    make_proxy: MakeProxy,
) -> None:
    client = await make_proxy(api_key=None)
    resp = await client.post("/v1/chat/completions", json=CHAT)
    assert "'Authorization: Bearer sk-...'" in (await resp.json())["error"]["message"]


# --- the store at start ----------------------------------------------------------------------


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(state_dir=state_dir(tmp_path), cache_dir=tmp_path / "cache", **values)


async def test_a_stored_key_is_read_at_start(tmp_path: Path) -> None:
    first = ApiKeyStore.open(_settings(tmp_path))
    assert first.current is None and first.source is None
    assert not state_dir(tmp_path).exists()  # reading creates nothing
    await first.store(NEW_KEY)
    again = ApiKeyStore.open(_settings(tmp_path))
    assert (again.current, again.source) == (NEW_KEY, "stored")


def test_the_configured_key_wins_over_a_stored_one(tmp_path: Path) -> None:
    path = api_key_path(state_dir(tmp_path))
    path.parent.mkdir(mode=0o700)
    path.write_text(NEW_KEY)
    path.chmod(0o600)
    store = ApiKeyStore.open(_settings(tmp_path, api_key=SecretStr(API_KEY)))
    assert (store.current, store.source, store.can_store) == (API_KEY, "configured", False)


@pytest.mark.parametrize(("mode", "content"), [(0o644, NEW_KEY), (0o600, "not a key")])
def test_an_unsafe_or_malformed_key_file_is_refused_at_start(
    tmp_path: Path, mode: int, content: str
) -> None:
    path = api_key_path(state_dir(tmp_path))
    path.parent.mkdir(mode=0o700)
    path.write_text(content)
    path.chmod(mode)
    with pytest.raises(ConfigError) as caught:
        ApiKeyStore.open(_settings(tmp_path))
    assert content not in str(caught.value)


def test_a_symlinked_key_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text(NEW_KEY)
    target.chmod(0o600)
    path = api_key_path(state_dir(tmp_path))
    path.parent.mkdir(mode=0o700)
    os.symlink(target, path)
    with pytest.raises(ConfigError):
        ApiKeyStore.open(_settings(tmp_path))
