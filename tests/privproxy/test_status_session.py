"""The status page's browser session in token mode, over plain HTTP.

A person signs in once with the local token (`POST /login`, same-origin form) and gets a
session cookie that is not the token. The cookie opens the status page and
`/v1/verification` and nothing else: every API route still wants the token. Cross-origin
posts are refused before the token is even looked at.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import SecretStr

from privproxy.server.session import COOKIE_NAME, SESSION_LIFETIME, StatusSessions
from tests.privproxy.conftest import MakeProxy, ProxyClient

TOKEN = "local-token-0123456789abcdefXYZ"
OTHER_TOKEN = "another-token-0123456789abcdef"
FORM = "application/x-www-form-urlencoded"
HTML = {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"}


def origin(client: ProxyClient) -> str:
    return f"http://{client.host}:{client.port}"


@pytest.fixture
async def tproxy(make_proxy: MakeProxy) -> ProxyClient:
    client = await make_proxy(require_token=True, token=SecretStr(TOKEN))
    client.session.cookie_jar.clear()
    return client


async def sign_in(client: ProxyClient, token: str = TOKEN, **headers: str) -> Any:
    """POST the login form as the page would; returns the response (redirects not followed)."""
    sent = {"Origin": origin(client), "Content-Type": FORM, "Sec-Fetch-Site": "same-origin"}
    sent.update(headers)
    return await client.post("/login", data=f"token={token}", headers=sent, allow_redirects=False)


def session_cookie(resp: Any) -> str:
    header = resp.headers["Set-Cookie"]
    match = re.match(rf"{COOKIE_NAME}=([^;]*);", header)
    assert match is not None, header
    return match.group(1)


def with_cookie(value: str, **headers: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE_NAME}={value}", **headers}


# --- the session values ----------------------------------------------------------------------


class ManualClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_session_value_is_not_the_token_and_checks_out() -> None:
    sessions = StatusSessions(TOKEN)
    value = sessions.issue()
    assert TOKEN not in value
    assert sessions.valid(value)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda v: v[:-1] + ("A" if v[-1] != "A" else "B"),  # the MAC changed
        lambda v: str(int(v.split(".")[0]) + 1) + "." + v.split(".")[1],  # the time changed
        lambda v: v.split(".")[0],  # no MAC
        lambda v: "." + v.split(".")[1],
        lambda v: v + "x" * 100,
        lambda v: "",
        lambda v: "\u0661\u0662." + v.split(".")[1],  # non-ASCII digits
    ],
)
def test_tampered_session_values_are_refused(mutate: Any) -> None:
    sessions = StatusSessions(TOKEN)
    assert not sessions.valid(mutate(sessions.issue()))


def test_a_session_of_another_process_or_token_is_refused() -> None:
    value = StatusSessions(TOKEN).issue()
    assert not StatusSessions(TOKEN).valid(value)  # a restart draws a new key
    assert not StatusSessions(OTHER_TOKEN).valid(value)


def test_sessions_expire_and_logout_ends_them() -> None:
    clock = ManualClock()
    sessions = StatusSessions(TOKEN, clock=clock)
    value = sessions.issue()
    clock.now += SESSION_LIFETIME - 1
    assert sessions.valid(value)
    clock.now += 2
    assert not sessions.valid(value)
    fresh = sessions.issue()
    sessions.revoke_all()
    assert not sessions.valid(fresh)
    assert sessions.valid(sessions.issue())  # signing in again after logout works at once


def test_cookie_attributes() -> None:
    sessions = StatusSessions(TOKEN)
    header = sessions.set_cookie("v")
    parts = {p.strip() for p in header.split(";")}
    assert {"HttpOnly", "SameSite=Strict", "Path=/", f"Max-Age={SESSION_LIFETIME}"} <= parts
    assert "Max-Age=0" in sessions.clear_cookie()


# --- signing in ------------------------------------------------------------------------------


async def test_browser_without_token_gets_the_login_form(tproxy: ProxyClient) -> None:
    resp = await tproxy.get("/", headers=HTML)
    assert resp.status == 401
    assert resp.content_type == "text/html"
    html = await resp.text()
    assert '<form method="post" action="/login"' in html
    assert "form-action 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert 'id="state"' not in html  # nothing of the status itself


async def test_get_login_shows_the_form_or_goes_to_the_page(tproxy: ProxyClient) -> None:
    resp = await tproxy.get("/login", headers=HTML)
    assert resp.status == 401
    assert '<form method="post" action="/login"' in await resp.text()
    value = session_cookie(await sign_in(tproxy))
    resp = await tproxy.get("/login", headers=with_cookie(value, **HTML), allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == "/"


async def test_api_client_without_token_still_gets_json_401(tproxy: ProxyClient) -> None:
    resp = await tproxy.get("/", headers={"Accept": "application/json"})
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "invalid_local_token"


async def test_sign_in_sets_a_session_cookie_that_opens_the_page(tproxy: ProxyClient) -> None:
    resp = await sign_in(tproxy)
    assert resp.status == 303
    assert resp.headers["Location"] == "/"
    value = session_cookie(resp)
    assert value and TOKEN not in value
    page = await tproxy.get("/", headers=with_cookie(value, **HTML))
    assert page.status == 200
    html = await page.text()
    assert 'id="state"' in html and 'action="/logout"' in html
    verification = await tproxy.get("/v1/verification", headers=with_cookie(value))
    assert verification.status == 200
    assert "state" in await verification.json()


@pytest.mark.parametrize("site", ["same-site", "cross-site"])
async def test_the_cookie_is_ignored_on_requests_another_page_makes(
    tproxy: ProxyClient, site: str
) -> None:
    # A page on another port of this host is the same *site*: SameSite=Strict still sends
    # the cookie with, say, an <img> pointed at /v1/verification. The browser marks it.
    value = session_cookie(await sign_in(tproxy))
    for path in ("/", "/v1/verification"):
        resp = await tproxy.get(path, headers=with_cookie(value, **{"Sec-Fetch-Site": site}))
        assert resp.status == 401, path
    own = await tproxy.get("/", headers=with_cookie(value, **{"Sec-Fetch-Site": "none"}, **HTML))
    assert own.status == 200  # typed into the address bar, or a bookmark


async def test_wrong_token_gets_the_form_again_and_no_cookie(tproxy: ProxyClient) -> None:
    resp = await sign_in(tproxy, OTHER_TOKEN)
    assert resp.status == 401
    assert "Set-Cookie" not in resp.headers
    assert 'id="login-failed"' in await resp.text()


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/models", "/metrics", "/nowhere"])
async def test_the_cookie_opens_no_api_route(tproxy: ProxyClient, path: str) -> None:
    value = session_cookie(await sign_in(tproxy))
    headers = with_cookie(value, Origin=origin(tproxy))
    if path == "/v1/chat/completions":
        body = {"model": "private/kimi-k3", "messages": [{"role": "user", "content": "x"}]}
        resp = await tproxy.post(path, json=body, headers=headers)
    else:
        resp = await tproxy.get(path, headers=headers)
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "invalid_local_token"


async def test_cross_origin_sign_in_is_refused_even_for_an_allowed_origin(
    make_proxy: MakeProxy,
) -> None:
    client = await make_proxy(
        require_token=True, token=SecretStr(TOKEN), allowed_origins=("http://app.example",)
    )
    for other in ("http://evil.example", "http://app.example", "null"):
        resp = await sign_in(client, Origin=other, **{"Sec-Fetch-Site": "cross-site"})
        assert resp.status == 403, other
        assert "Set-Cookie" not in resp.headers


async def test_sign_in_the_browser_marks_as_cross_site_is_refused(tproxy: ProxyClient) -> None:
    # The Origin header matches (a rebinding or a proxy could make it so); the browser's own
    # account of where the request comes from still decides.
    for site in ("cross-site", "same-site", "none"):
        resp = await sign_in(tproxy, **{"Sec-Fetch-Site": site})
        assert resp.status == 403, site


async def test_sign_in_without_origin_needs_the_token(tproxy: ProxyClient) -> None:
    resp = await tproxy.post(
        "/login", data=f"token={TOKEN}", headers={"Content-Type": FORM}, allow_redirects=False
    )
    assert resp.status == 401  # not a same-origin page: treated like any API call


async def test_logout_ends_the_session(tproxy: ProxyClient) -> None:
    value = session_cookie(await sign_in(tproxy))
    resp = await tproxy.post(
        "/logout",
        data="",
        headers=with_cookie(value, Origin=origin(tproxy), **{"Content-Type": FORM}),
        allow_redirects=False,
    )
    assert resp.status == 303
    assert "Max-Age=0" in resp.headers["Set-Cookie"]
    again = await tproxy.get("/", headers=with_cookie(value, **HTML))
    assert again.status == 401  # the login form, not the page


async def test_a_post_with_the_cookie_must_be_same_origin(tproxy: ProxyClient) -> None:
    value = session_cookie(await sign_in(tproxy))
    resp = await tproxy.post(
        "/logout", data="", headers=with_cookie(value, **{"Content-Type": FORM})
    )
    assert resp.status == 401  # no Origin: the cookie alone does not authorise a POST


async def test_the_form_body_is_bounded(tproxy: ProxyClient) -> None:
    resp = await sign_in(tproxy, "x" * 5000)
    assert resp.status == 413
