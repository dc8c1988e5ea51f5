"""`privproxy demo` the way a container runs it, and the start-up banner's curl.

In a container the demo must bind a wildcard address so that `docker run -p` can publish it;
like `serve`, that is allowed only with the local token. The banner's example must work as
printed (loopback URL for a wildcard bind, the token by reference, readable after redaction).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from privproxy.cli.banner import client_url, curl_example, token_reference
from privproxy.cli.demo import usage_text
from privproxy.ops.log_hygiene import RedactingFilter
from privproxy.server.config import Settings
from privproxy.simulator.harness import SIMULATED_HEADER
from tests.privproxy.demo_process import demo_env, running_demo

TOKEN = "demo-container-token-0123456789abcdef"
BODY = {"model": "private/kimi-k3", "messages": [{"role": "user", "content": "Hello"}]}


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("0.0.0.0", 8787, "http://127.0.0.1:8787"),
        ("::", 8787, "http://[::1]:8787"),
        ("[::]", 1, "http://[::1]:1"),
        ("127.0.0.1", 9, "http://127.0.0.1:9"),
        ("::1", 9, "http://[::1]:9"),
        ("10.1.2.3", 80, "http://10.1.2.3:80"),
        ("proxy.internal", 80, "http://proxy.internal:80"),
    ],
)
def test_client_url_never_names_a_wildcard_address(host: str, port: int, expected: str) -> None:
    assert client_url(host, port) == expected


def test_token_reference_follows_the_token_rules(tmp_path: Path) -> None:
    loopback = Settings(host="127.0.0.1", state_dir=tmp_path)
    assert token_reference(loopback) is None
    with_env_token = Settings(host="0.0.0.0", token=SecretStr(TOKEN), state_dir=tmp_path)
    assert token_reference(with_env_token) == "$PRIVPROXY_TOKEN"
    generated = Settings(host="0.0.0.0", state_dir=tmp_path / "state dir")
    assert token_reference(generated) == f"$(cat '{tmp_path / 'state dir' / 'token'}')"
    forced = Settings(host="127.0.0.1", require_token=True, state_dir=tmp_path)
    assert token_reference(forced) is not None


def test_curl_example_survives_log_redaction() -> None:
    # The redaction blanks whatever follows a literal "Bearer "; the example must stay usable.
    example = curl_example("http://127.0.0.1:8787", "$PRIVPROXY_TOKEN")
    assert RedactingFilter([TOKEN]).redact(example) == example
    assert '--oauth2-bearer "$PRIVPROXY_TOKEN"' in example
    assert "Authorization" not in curl_example("http://127.0.0.1:8787", None)
    assert "--oauth2-bearer" not in curl_example("http://127.0.0.1:8787", None)


def test_demo_usage_text_uses_the_token_when_required() -> None:
    text = usage_text("http://127.0.0.1:8787", "$PRIVPROXY_TOKEN")
    assert '--oauth2-bearer "$PRIVPROXY_TOKEN"' in text
    assert 'api_key=os.environ["PRIVPROXY_TOKEN"]' in text
    assert 'api_key="unused"' in usage_text("http://127.0.0.1:8787")


async def test_demo_refuses_a_wildcard_host_without_token(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "privproxy", "demo", "--host", "0.0.0.0", "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=demo_env(tmp_path),
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert b"PRIVPROXY_TOKEN" in err and b"loopback" in err
    assert out == b""


async def test_demo_refuses_an_unusable_token(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "privproxy", "demo", "--host", "0.0.0.0", "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=demo_env(tmp_path, PRIVPROXY_TOKEN="short"),
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert b"local token" in err


async def test_demo_on_a_wildcard_host_requires_the_token(tmp_path: Path) -> None:
    """The container case: bind 0.0.0.0, token from the environment, banner works as printed."""
    env = demo_env(tmp_path, PRIVPROXY_TOKEN=TOKEN)
    async with running_demo(tmp_path, "--host", "0.0.0.0", ready="Press Ctrl-C", env=env) as run:
        banner = "".join(run.lines)
        url = run.url
        assert f"is ready on {url}" in banner
        assert f"curl {url}/v1/chat/completions" in banner
        assert '--oauth2-bearer "$PRIVPROXY_TOKEN"' in banner
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{url}/v1/chat/completions", json=BODY) as resp:
                assert resp.status == 401
            # What `curl --oauth2-bearer "$PRIVPROXY_TOKEN"` sends.
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with http.post(f"{url}/v1/chat/completions", json=BODY, headers=headers) as resp:
                assert resp.status == 200
                assert resp.headers[SIMULATED_HEADER] == "true"
                answer = await resp.json(content_type=None)
            async with http.get(f"{url}/healthz") as resp:  # probes need no token
                assert resp.status == 200
        assert answer["choices"][0]["message"]["content"] == "[SIMULATED] You said: Hello"
    assert run.proc.returncode == 0
    output = "".join(run.lines)
    assert TOKEN not in output
    assert not any(tmp_path.iterdir())  # nothing written under HOME
