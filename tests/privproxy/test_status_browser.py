"""The status page in a real headless Chromium (Debian `chromium`, driven by Playwright).

The proxy runs the real verifier against the simulated enclave (`privproxy demo`'s
world), so the page shows a genuinely verified state. The first test checks what a person
sees (badge text, enclave, simulated banner), that the hashed inline stylesheet is applied
under the strict CSP (so the page is not silently unstyled), and that the browser reports
no CSP violation. The second walks through token mode as a person would: the login form,
the session cookie (HttpOnly, SameSite=Strict, not the token), storing the PPQ key with the
page's form, an API route the cookie does not open, a forged form from another origin that
the proxy refuses, and signing out. Screenshots are saved to `test-artifacts/`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr
from pytest_aiohttp import AiohttpServer

from attestation.attestor import Attestor
from attestation.fetch import AiohttpFetcher
from attestation.policy import Policy
from privproxy.enclave.attested import AttestedProvider
from privproxy.enclave.status import AttestationState
from privproxy.server.api_key_store import api_key_path
from privproxy.server.app import create_app
from privproxy.server.config import Settings
from privproxy.server.session import COOKIE_NAME
from privproxy.simulator.server import SimulatedGateway, running_gateway
from privproxy.simulator.world import SimulatedWorld, shared_world
from tests.conftest import REPO

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts"
# Flags for a sandboxed, offline CI machine (see the machine notes): no first-run UI, no
# background network chatter that the closed network would refuse.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "browser-token-0123456789abcdefXYZ"
PPQ_KEY = "sk-fromThePage_0123456789ab"


def _playwright() -> Any:
    if not Path(CHROMIUM).exists():
        pytest.skip(
            "Debian chromium is not installed (.ci/run installs it: apt-get install chromium)"
        )
    return pytest.importorskip(
        "playwright.async_api", reason="playwright (test extra) is not installed"
    )


@contextlib.asynccontextmanager
async def verified_proxy(
    tmp_path: Path, aiohttp_server: AiohttpServer, **overrides: Any
) -> AsyncIterator[tuple[str, AttestedProvider, SimulatedWorld]]:
    """A proxy that verified the simulated enclave; yields (its URL, provider, world)."""
    world = shared_world()
    gateway = SimulatedGateway(world)
    async with running_gateway(gateway) as base_url, AiohttpFetcher() as fetcher:
        values: dict[str, Any] = {
            "api_base": base_url,
            "api_key": SecretStr("sk-simulated-0123456789"),
            "state_dir": tmp_path / "state",
            "cache_dir": tmp_path / "cache",
            "simulated": True,
        }
        values.update(overrides)
        settings = Settings(**values)
        attestor = Attestor(fetcher, policy=Policy.production(), trust=world.trust())
        provider = AttestedProvider(settings, attestor=attestor)
        server = await aiohttp_server(create_app(settings, provider=provider))
        for _ in range(1500):
            if provider.state() is AttestationState.VERIFIED:
                break
            await asyncio.sleep(0.01)
        assert provider.state() is AttestationState.VERIFIED
        yield str(server.make_url("/")), provider, world


@contextlib.asynccontextmanager
async def chromium(tmp_path: Path) -> AsyncIterator[Any]:
    """A headless Chromium whose profile and caches live under `tmp_path`."""
    playwright_api = _playwright()
    async with playwright_api.async_playwright() as pw:
        # Chromium writes crash-report settings and dconf caches under HOME/XDG dirs:
        # point them at tmp_path so the test never touches the user's home directory.
        home = tmp_path / "chromium-home"
        browser_env = {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        }
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, env=browser_env
        )
        try:
            yield browser
        finally:
            await browser.close()


async def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / name
    await page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


async def test_status_page_renders_verified_state_in_chromium(
    tmp_path: Path, aiohttp_server: AiohttpServer
) -> None:
    _playwright()
    async with (
        verified_proxy(tmp_path, aiohttp_server) as (url, provider, world),
        chromium(tmp_path) as browser,
    ):
        page = await browser.new_page(viewport={"width": 1100, "height": 1400})
        console: list[str] = []
        requested: list[str] = []
        page.on("console", lambda msg: console.append(msg.text))
        page.on("request", lambda req: requested.append(req.url))
        response = await page.goto(url)
        assert response is not None
        assert response.status == 200
        assert (await page.title()).startswith("SIMULATED")  # the tab says it too
        badge = page.locator("#state")
        assert (await badge.inner_text()).strip() == "VERIFIED"
        assert await badge.get_attribute("data-state") == "verified"
        color = await badge.evaluate("e => getComputedStyle(e).backgroundColor")
        assert color == "rgb(31, 136, 61)"  # the CSP-hashed stylesheet was applied
        banner = page.locator("#simulated")
        assert await banner.evaluate("e => getComputedStyle(e).backgroundColor") == (
            "rgb(130, 80, 223)"  # purple, as docs/demo.md says
        )
        body = await page.locator("body").inner_text()
        assert "SIMULATED ENCLAVE" in body
        assert world.domain in body
        assert "tinfoilsh/confidential-model-router" in body
        v = (await provider.current()).verification
        assert v is not None
        assert v.hpke_key_fingerprint in body
        assert v.code_measurement.fingerprint() in body
        assert "✓ passed" in body
        assert "Content Security Policy" not in " ".join(console)
        # Self-contained: the page itself is the only thing loaded (the browser's
        # own favicon probe aside).
        assert [u for u in requested if not u.endswith("/favicon.ico")] == [url]
        await screenshot(page, "status-page.png")


async def test_token_mode_sign_in_store_key_and_sign_out_in_chromium(
    tmp_path: Path, aiohttp_server: AiohttpServer
) -> None:
    _playwright()
    async with (
        verified_proxy(
            tmp_path, aiohttp_server, api_key=None, require_token=True, token=SecretStr(TOKEN)
        ) as (url, _, _),
        chromium(tmp_path) as browser,
    ):
        context = await browser.new_context(viewport={"width": 1100, "height": 1400})
        page = await context.new_page()
        console: list[str] = []
        page.on("console", lambda msg: console.append(msg.text))

        # Without the token: the login form, not the status and not a JSON error.
        response = await page.goto(url)
        assert response is not None and response.status == 401
        assert await page.locator("#state").count() == 0
        assert (await page.title()).startswith("SIMULATED")
        await screenshot(page, "status-login.png")

        await page.fill("#token", "wrong-token-0123456789abcdef")
        async with page.expect_navigation():
            await page.click("#login button")
        assert await page.locator("#login-failed").is_visible()
        assert not await context.cookies()

        await page.fill("#token", TOKEN)
        async with page.expect_navigation():
            await page.click("#login button")
        assert (await page.locator("#state").inner_text()).strip() == "VERIFIED"
        (cookie,) = await context.cookies()
        assert cookie["name"] == COOKIE_NAME
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Strict"
        assert cookie["path"] == "/"
        assert TOKEN not in cookie["value"]
        assert await page.evaluate("document.cookie") == ""  # no script can read it

        # The page offers the key form (no key configured); storing goes back to the page.
        assert "No PPQ API key is set" in await page.locator("#key-state").inner_text()
        await page.fill("#apiKey", PPQ_KEY)
        async with page.expect_navigation():
            await page.click("#api-key button")
        assert "A PPQ API key is stored" in await page.locator("#key-state").inner_text()
        path = api_key_path(tmp_path / "state")
        assert path.read_text(encoding="ascii") == PPQ_KEY + "\n"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert PPQ_KEY not in await page.content()
        await screenshot(page, "status-signed-in.png")

        # The cookie opens /v1/verification, and no API route.
        verification = await page.goto(url + "v1/verification")
        assert verification is not None and verification.status == 200
        models = await page.goto(url + "v1/models")
        assert models is not None and models.status == 401

        # A page of another origin (localhost is another site than 127.0.0.1) submits a
        # forged key form to the proxy while this browser is signed in.
        forged_key = "sk-forgedByAnotherSite_0123"
        target = url + "setup/api-key"
        forged = (
            '<!doctype html><form method="post" action="' + target + '">'
            f'<input name="apiKey" value="{forged_key}"></form>'
            "<script>document.forms[0].submit()</script>"
        )

        async def forged_page(_: web.Request) -> web.Response:
            return web.Response(text=forged, content_type="text/html")

        evil = web.Application()
        evil.router.add_get("/", forged_page)
        evil_server = await aiohttp_server(evil, host="localhost")
        answers: list[int] = []
        page.on("response", lambda r: answers.append(r.status) if r.url == target else None)
        async with page.expect_navigation(url=target):
            await page.goto(str(evil_server.make_url("/")))
        assert answers == [403]
        assert path.read_text(encoding="ascii") == PPQ_KEY + "\n"

        # Signing out ends the session: the login form again.
        await page.goto(url)
        async with page.expect_navigation():
            await page.click("#logout button")
        assert await page.locator("#login").count() == 1
        assert not await context.cookies()
        assert "Content Security Policy" not in " ".join(console)
        await context.close()
