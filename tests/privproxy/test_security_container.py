"""Container hardening, checked statically and against the app's own rules.

No image is built here (that needs a Docker engine; docs/operations.md says how the image was
built and run by hand). The Dockerfile, .dockerignore and the compose example are parsed and
their security-relevant settings asserted, and the HEALTHCHECK's request is replayed against a
token-protected app bound like the container (0.0.0.0).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr
from pytest_aiohttp import AiohttpClient

from privproxy.enclave.unsafe import UnsafeStaticProvider
from privproxy.server.app import create_app
from privproxy.server.config import Settings
from privproxy.server.token import token_required
from tests.conftest import REPO


def _dockerfile() -> str:
    return (REPO / "Dockerfile").read_text()


def _instructions(name: str) -> list[str]:
    text = _dockerfile().replace("\\\n", " ")
    return [line.split(None, 1)[1] for line in text.splitlines() if line.startswith(name + " ")]


def test_runs_as_numeric_non_root_user() -> None:
    users = _instructions("USER")
    assert users, "the image must drop root"
    user = users[-1].strip().split(":")[0]
    assert user.isdigit() and int(user) != 0


def test_writable_paths_exist_for_the_user_and_no_anonymous_volume() -> None:
    # A VOLUME instruction makes every `docker run` leave an anonymous volume behind; the
    # writable paths are directories in the image instead, owned by the runtime user, and the
    # operator mounts what should persist (docs/operations.md, "Docker image").
    assert _instructions("VOLUME") == []
    env = " ".join(_instructions("ENV"))
    state = re.search(r"PRIVPROXY_STATE_DIR=(\S+)", env)
    cache = re.search(r"PRIVPROXY_CACHE_DIR=(\S+)", env)
    assert state is not None and cache is not None
    uid = _instructions("USER")[-1].strip().split(":")[0]
    created = [run for run in _instructions("RUN") if f"install -d -o {uid} -g {uid}" in run]
    assert created, "the writable directories must be created for the runtime user"
    assert state.group(1) in created[0] and cache.group(1) in created[0]


def test_build_context_is_an_allowlist() -> None:
    # A checkout with .venv sent hundreds of MB of context; only what the image installs goes.
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    included = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert included == {"pyproject.toml", "README.md", "privproxy", "attestation"}
    copied = {c.split()[0] for c in _instructions("COPY")} | {
        c.split()[1] for c in _instructions("COPY") if len(c.split()) > 2
    }
    assert copied <= included | {"./"}


def test_default_bind_needs_token(tmp_path: Path) -> None:
    cmd = json.loads(_instructions("CMD")[-1])
    host = cmd[cmd.index("--host") + 1]
    settings = Settings(host=host, state_dir=tmp_path / "s", cache_dir=tmp_path / "c")
    assert token_required(settings)


async def test_healthcheck_request_passes_guards_without_token(
    aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    healthcheck = _instructions("HEALTHCHECK")[-1]
    match = re.search(r"http://(127\.0\.0\.1:\d+)(/[a-z]+)", healthcheck)
    assert match is not None
    host, path = match.groups()
    settings = Settings(
        host="0.0.0.0",
        token=SecretStr("container-token-0123456789"),
        state_dir=tmp_path / "s",
        cache_dir=tmp_path / "c",
    )
    app = create_app(settings, provider=UnsafeStaticProvider(b"\x01" * 32, "https://e.test"))
    client = await aiohttp_client(app)
    probe = await client.get(path, headers={"Host": host})
    assert probe.status == 200
    # ...while the API itself stays closed without the token.
    assert (await client.get("/v1/models", headers={"Host": host})).status == 401


def test_compose_example_is_a_hardened_sidecar() -> None:
    compose: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.example.yml").read_text())
    proxy = compose["services"]["privproxy"]
    app = compose["services"]["app"]
    assert proxy["read_only"] is True
    assert not str(proxy["user"]).startswith("0")
    assert proxy["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in proxy["security_opt"]
    assert "ports" not in proxy  # nothing published: only the sidecar can connect
    assert app["network_mode"] == "service:privproxy"
    assert app["environment"]["OPENAI_BASE_URL"].startswith("http://127.0.0.1:")
    assert "--api-key-file" in proxy["command"]  # the key comes from a secret, not the env
    assert all("PPQ_API_KEY" not in str(v) for v in app["environment"].values())
