"""CLI and runner: subcommand dispatch, exit codes, library mode, a real serve process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import types
from pathlib import Path

import aiohttp
import pytest

from privproxy.cli import main as cli
from privproxy.enclave.unsafe import UnsafeStaticProvider
from privproxy.server.config import Settings
from privproxy.server.runner import running
from tests.privproxy.fake_gateway import FakeGateway

KEY_HEX = "07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c"


def test_help_lists_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for word in ("verify", "demo", "openclaw-config", "--api-key-file", "--unsafe-hpke-key"):
        assert word in out


def test_subcommand_dispatch(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def fake_main(argv: list[str]) -> int:
        calls.append(argv)
        return 7

    module = types.ModuleType("privproxy.cmd_fake")
    module.main = fake_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "privproxy.cmd_fake", module)
    monkeypatch.setitem(cli.SUBCOMMANDS, "verify", "privproxy.cmd_fake")
    assert cli.main(["verify", "--json", "x"]) == 7
    assert calls == [["--json", "x"]]


def test_missing_subcommand_module_is_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(cli.SUBCOMMANDS, "demo", "privproxy.cmd_not_written_yet")
    assert cli.main(["demo"]) == cli.EXIT_USAGE
    assert "not available" in capsys.readouterr().err


def test_unsafe_on_public_address_is_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    code = cli.main(["serve", "--unsafe-hpke-key", KEY_HEX, "--host", "0.0.0.0"])
    assert code == cli.EXIT_USAGE
    assert "non-loopback" in capsys.readouterr().err


async def test_running_library_mode(gateway: FakeGateway, tmp_path: Path) -> None:
    settings = Settings(
        port=0, api_base=gateway.base_url, state_dir=tmp_path / "s", cache_dir=tmp_path / "c"
    )
    provider = UnsafeStaticProvider(gateway.public_key, "https://enclave.test")
    async with running(settings, provider=provider) as server:
        assert server.port != 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        async with aiohttp.ClientSession() as session:
            async with session.get(server.url + "/health") as resp:
                assert (await resp.json())["status"] == "ok"
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as session:
            await session.get(server.url + "/health")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_serve_process_starts_logs_and_stops(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "PPQ_API_BASE": f"http://127.0.0.1:{_closed_port()}",  # never the real gateway
        "PRIVPROXY_UNSAFE_HPKE_KEY": KEY_HEX,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "privproxy", "--port", "0",
        env=env, stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stderr is not None
    lines: list[str] = []
    try:
        url = ""
        async with asyncio.timeout(30):
            while not url:
                line = (await proc.stderr.readline()).decode()
                assert line, "".join(lines)
                lines.append(line)
                if "listening on " in line:
                    url = line.rsplit(" ", 1)[-1].strip()
        async with aiohttp.ClientSession() as session, session.get(url + "/health") as resp:
            body = await resp.json()
        assert body["attestation"] is False and body["unsafe"] is True
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            rest = (await proc.stderr.read()).decode()
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    log = "".join(lines) + rest
    assert "UNSAFE MODE" in log
    assert "No PPQ API key configured" in log
    # The hint survives the log redaction as written (it is no credential).
    assert "'Authorization: Bearer sk-...'" in log and "[REDACTED]" not in log
    assert "Endpoints: GET /v1/models, POST /v1/chat/completions" in log
    assert "Shutting down" in log
    assert not (tmp_path / ".local").exists() and not (tmp_path / ".cache").exists()


def test_every_flag_and_env_documented() -> None:
    from privproxy.server.config import build_parser
    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    config_doc = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    flags = [
        opt
        for action in build_parser()._actions
        for opt in action.option_strings
        if opt.startswith("--") and opt != "--help"
    ]
    assert len(flags) > 20
    for flag in flags:
        assert flag in readme, f"{flag} missing from README.md"
        assert flag in config_doc, f"{flag} missing from docs/configuration.md"
    for env in ("PPQ_API_KEY", "PORT", "PPQ_API_BASE", "DEBUG", "PRIVPROXY_STATE_DIR",
                "PRIVPROXY_CACHE_DIR", "PRIVPROXY_AMD_CERT_CHAIN", "PRIVPROXY_TOKEN",
                "PRIVPROXY_UNSAFE_HPKE_KEY", "PRIVPROXY_UNSAFE_ENCLAVE_URL",
                "PRIVPROXY_MODEL_ALIASES"):  # fmt: skip
        assert env in readme and env in config_doc, env
    # The README's test command is the one CI runs.
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install -e '.[test]' && python -m pytest" in readme
    assert "pip install -q -e '.[test]'" in ci and "python -m pytest" in ci
