"""The status page in a real headless Chromium (Debian `chromium`, driven by Playwright).

The proxy runs the real verifier against the simulated enclave (`privproxy demo`'s
world), so the page shows a genuinely verified state. The test checks what a person sees
(badge text, enclave, simulated banner), that the hashed inline stylesheet is applied
under the strict CSP (so the page is not silently unstyled), and that the browser reports
no CSP violation. A screenshot is saved to `test-artifacts/status-page.png`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest
from pydantic import SecretStr
from pytest_aiohttp import AiohttpServer

from attestation.attestor import Attestor
from attestation.fetch import AiohttpFetcher
from attestation.policy import Policy
from privproxy.enclave.attested import AttestedProvider
from privproxy.enclave.status import AttestationState
from privproxy.server.app import create_app
from privproxy.server.config import Settings
from privproxy.simulator.server import SimulatedGateway, running_gateway
from privproxy.simulator.world import shared_world
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


async def test_status_page_renders_verified_state_in_chromium(
    tmp_path: Path, aiohttp_server: AiohttpServer
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(
            "Debian chromium is not installed (.ci/run installs it: apt-get install chromium)"
        )
    playwright_api = pytest.importorskip(
        "playwright.async_api", reason="playwright (test extra) is not installed"
    )
    world = shared_world()
    gateway = SimulatedGateway(world)
    async with running_gateway(gateway) as base_url, AiohttpFetcher() as fetcher:
        settings = Settings(
            api_base=base_url,
            api_key=SecretStr("sk-simulated-0123456789"),
            state_dir=tmp_path / "state",
            cache_dir=tmp_path / "cache",
            simulated=True,
        )
        attestor = Attestor(fetcher, policy=Policy.production(), trust=world.trust())
        provider = AttestedProvider(settings, attestor=attestor)
        server = await aiohttp_server(create_app(settings, provider=provider))
        for _ in range(1500):
            if provider.state() is AttestationState.VERIFIED:
                break
            await asyncio.sleep(0.01)
        assert provider.state() is AttestationState.VERIFIED
        url = str(server.make_url("/"))

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
                page = await browser.new_page(viewport={"width": 1100, "height": 1400})
                console: list[str] = []
                requested: list[str] = []
                page.on("console", lambda msg: console.append(msg.text))
                page.on("request", lambda req: requested.append(req.url))
                response = await page.goto(url)
                assert response is not None
                assert response.status == 200
                badge = page.locator("#state")
                assert (await badge.inner_text()).strip() == "VERIFIED"
                assert await badge.get_attribute("data-state") == "verified"
                color = await badge.evaluate("e => getComputedStyle(e).backgroundColor")
                assert color == "rgb(31, 136, 61)"  # the CSP-hashed stylesheet was applied
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
                ARTIFACTS.mkdir(exist_ok=True)
                shot = ARTIFACTS / "status-page.png"
                await page.screenshot(path=str(shot), full_page=True)
                assert shot.stat().st_size > 10_000
            finally:
                await browser.close()
