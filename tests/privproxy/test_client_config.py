"""`privproxy client-config codex|claude|openclaw`: the printed configurations and the model
list taken from the live catalog (a running proxy, the gateway, or the built-in fallback)."""

from __future__ import annotations

import asyncio
import json
import tomllib

import pytest

from privproxy.cli import main as cli
from privproxy.cli.client_config import CLAUDE_MODEL_VARS
from privproxy.gateway.catalog import MODELS
from privproxy.server.app_keys import CATALOG_KEY
from tests.privproxy.conftest import ProxyClient
from tests.privproxy.fake_gateway import FakeGateway


def test_codex_config_speaks_the_responses_api_offline(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["client-config", "codex", "--offline", "--port", "9000"]) == 0
    config = tomllib.loads(capsys.readouterr().out)
    assert config["model"] == "private/kimi-k3" and config["model_provider"] == "privproxy"
    provider = config["model_providers"]["privproxy"]
    assert provider == {
        "name": "privproxy (PPQ private models)",
        "base_url": "http://127.0.0.1:9000/v1",
        "env_key": "PPQ_API_KEY",
        "wire_api": "responses",
    }
    assert config["features"] == {"plugins": False}
    assert config["analytics"] == {"enabled": False} and config["feedback"] == {"enabled": False}
    assert config["otel"] == {"exporter": "none"}
    assert config["check_for_update_on_startup"] is False
    assert config["model_context_window"] == MODELS[0].context_window


def test_claude_env_points_every_model_role_at_the_private_model(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["client-config", "claude", "--offline", "--model", "private/glm-5-2"]
    assert cli.main([*argv, "--key-env", "PRIVPROXY_TOKEN"]) == 0
    lines = capsys.readouterr().out.splitlines()
    exports = dict(
        line.removeprefix("export ").split("=", 1) for line in lines if line.startswith("export ")
    )
    assert exports["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:8787"  # no /v1: Claude adds it
    assert exports["ANTHROPIC_API_KEY"] == '"${PRIVPROXY_TOKEN:-privproxy-local}"'
    for name in CLAUDE_MODEL_VARS:
        assert exports[name] == "private/glm-5-2"
    assert exports["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"


@pytest.mark.parametrize(
    "argv",
    [
        ["claude", "--key-env", "A;rm -rf"],
        ["codex", "--provider-id", "x]\n[y"],
        ["codex", "--port", "0"],
    ],
)
def test_values_that_would_break_the_generated_files_are_refused(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["client-config", *argv, "--offline"]) == 2
    assert capsys.readouterr().out == ""


async def test_models_from_the_gateway_catalog(
    gateway: FakeGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway.catalog = {
        "data": [
            {
                "id": "private/brand-new-model",
                "name": "Brand New (Private)",
                "context_length": 65536,
                "architecture": {"input_modalities": ["text", "image"]},
            },
            {"id": "gpt-4o"},
        ]
    }
    argv = ["client-config", "codex", "--api-base", gateway.base_url]
    assert await asyncio.to_thread(cli.main, argv) == 0
    config = tomllib.loads(capsys.readouterr().out)
    assert config["model"] == "private/brand-new-model"  # the default is not served there
    assert config["model_context_window"] == 65536  # what the catalog says, not a default
    out = await asyncio.to_thread(
        cli.main, ["client-config", "openclaw", "--api-base", gateway.base_url]
    )
    assert out == 0
    provider = json.loads(capsys.readouterr().out)["models"]["providers"]["privproxy"]
    assert [m["id"] for m in provider["models"]] == ["private/brand-new-model"]
    (model,) = provider["models"]
    assert model["name"] == "Brand New (Private)"
    assert model["contextWindow"] == 65536
    assert model["input"] == ["text", "image"]


async def test_unreachable_gateway_falls_back_to_the_built_in_list(
    unused_tcp_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["client-config", "claude", "--api-base", f"http://127.0.0.1:{unused_tcp_port}"]
    assert await asyncio.to_thread(cli.main, argv) == 0
    captured = capsys.readouterr()
    assert "built-in list" in captured.err
    assert ", ".join(m.id for m in MODELS) in captured.out


async def test_models_from_a_running_proxy(
    proxy: ProxyClient, gateway: FakeGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway.catalog = {"data": [{"id": "private/kimi-k3"}, {"id": "private/only-here"}]}
    await proxy.app[CATALOG_KEY].refresh()  # the proxy's own catalog, from the gateway
    url = str(proxy.make_url("")).rstrip("/")
    argv = ["client-config", "claude", "--proxy-url", url]
    assert await asyncio.to_thread(cli.main, argv) == 0
    out = capsys.readouterr().out
    assert "# Private models: private/kimi-k3, private/only-here" in out


async def test_unreachable_proxy_url_is_an_error(
    unused_tcp_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["client-config", "codex", "--proxy-url", f"http://127.0.0.1:{unused_tcp_port}"]
    assert await asyncio.to_thread(cli.main, argv) == 1
    assert "no model list" in capsys.readouterr().err
