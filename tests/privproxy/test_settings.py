"""Settings: env names, flag precedence, Node quirks fixed, secrets redacted, fail-closed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from privproxy.server.config import ConfigError, Settings, is_loopback_host

KEY_HEX = "07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {"HOME": str(tmp_path / "home")}
    env.update(extra)
    return env


def test_defaults_fail_closed(tmp_path: Path) -> None:
    s = Settings.from_env_and_args(_env(tmp_path), [])
    assert s.host == "127.0.0.1"
    assert s.port == 8787
    assert s.api_base == "https://api.ppq.ai"
    assert s.api_key is None
    assert s.debug is False
    assert s.unsafe_hpke_key is None and not s.unsafe
    assert s.unsafe_enclave_url == "https://inference.tinfoil.sh"
    assert s.state_dir == tmp_path / "home" / ".local/state/privproxy"
    assert s.cache_dir == tmp_path / "home" / ".cache/privproxy"
    assert s.amd_cert_chain == ()
    assert (s.reattest_interval, s.attestation_max_age) == (3600.0, 86400.0)
    assert s.require_token is None and s.token is None
    assert s.allowed_origins == () and s.allowed_hosts == ()
    assert s.max_body_bytes == 32 * 1024 * 1024
    assert s.max_concurrent_requests == 512
    assert s.client_read_timeout == 30.0
    assert s.upstream_connect_timeout == 10.0
    assert s.upstream_first_byte_timeout == 300.0
    assert s.upstream_idle_timeout == 300.0
    assert s.shutdown_timeout == 30.0
    assert s.catalog_ttl == 600.0
    assert s.simulated is False
    assert not (tmp_path / "home").exists()  # paths are computed, never created


def test_node_environment_names(tmp_path: Path) -> None:
    env = _env(
        tmp_path,
        PPQ_API_KEY=" sk-envkey ",
        PORT="9000",
        PPQ_API_BASE="https://gw.example/",
        DEBUG="true",
    )
    s = Settings.from_env_and_args(env, [])
    assert s.api_key is not None and s.api_key.get_secret_value() == "sk-envkey"
    assert s.port == 9000
    assert s.api_base == "https://gw.example"  # trailing slash tolerated (Node gave //private)
    assert s.debug is True


@pytest.mark.parametrize("port", ["abc", "", "70000", "-1", "80.5"])
def test_non_numeric_port_falls_back(tmp_path: Path, port: str) -> None:
    assert Settings.from_env_and_args(_env(tmp_path, PORT=port), []).port == 8787


@pytest.mark.parametrize("value", ["TRUE", "1", "yes", ""])
def test_debug_only_exactly_true(tmp_path: Path, value: str) -> None:
    assert Settings.from_env_and_args(_env(tmp_path, DEBUG=value), []).debug is False


def test_flags_override_env(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("  sk-fromfile\n", encoding="utf-8")
    env = _env(
        tmp_path,
        PPQ_API_KEY="sk-env",
        PORT="9000",
        PPQ_API_BASE="https://env.example",
        PRIVPROXY_STATE_DIR=str(tmp_path / "env-state"),
    )
    s = Settings.from_env_and_args(
        env,
        [
            "--port", "9100",
            "--api-base", "https://flag.example//",
            "--api-key-file", str(key_file),
            "--debug",
            "--state-dir", str(tmp_path / "flag-state"),
            "--allowed-origin", "https://a.example",
            "--allowed-origin", "https://b.example",
            "--allowed-host", "box.lan",
            "--amd-cert-chain", "/x/ask.pem",
            "--amd-cert-chain", "/x/ark.pem",
            "--upstream-idle-timeout", "12.5",
            "--no-require-token",
        ],
    )  # fmt: skip
    assert s.port == 9100
    assert s.api_base == "https://flag.example"
    assert s.api_key is not None and s.api_key.get_secret_value() == "sk-fromfile"
    assert s.debug is True
    assert s.state_dir == tmp_path / "flag-state"
    assert s.allowed_origins == ("https://a.example", "https://b.example")
    assert s.allowed_hosts == ("box.lan",)
    assert s.amd_cert_chain == (Path("/x/ask.pem"), Path("/x/ark.pem"))
    assert s.upstream_idle_timeout == 12.5
    assert s.require_token is False


def test_env_only_settings(tmp_path: Path) -> None:
    env = _env(
        tmp_path,
        XDG_STATE_HOME=str(tmp_path / "xs"),
        XDG_CACHE_HOME=str(tmp_path / "xc"),
        PRIVPROXY_AMD_CERT_CHAIN=os.pathsep.join(["/a.pem", "", "/b.pem"]),
        PRIVPROXY_TOKEN="local-token-123456",
        PRIVPROXY_UNSAFE_HPKE_KEY=KEY_HEX,
        PRIVPROXY_UNSAFE_ENCLAVE_URL="https://enclave.example/",
    )
    s = Settings.from_env_and_args(env, [])
    assert s.state_dir == tmp_path / "xs" / "privproxy"
    assert s.cache_dir == tmp_path / "xc" / "privproxy"
    assert s.amd_cert_chain == (Path("/a.pem"), Path("/b.pem"))
    assert s.token is not None and s.token.get_secret_value() == "local-token-123456"
    assert s.unsafe_hpke_key == bytes.fromhex(KEY_HEX)
    assert s.unsafe_enclave_url == "https://enclave.example"


def test_secrets_redacted_in_repr(tmp_path: Path) -> None:
    env = _env(tmp_path, PPQ_API_KEY="sk-supersecret", PRIVPROXY_TOKEN="tok-supersecret")
    s = Settings.from_env_and_args(env, ["--unsafe-hpke-key", KEY_HEX])
    text = repr(s) + str(s)
    assert "supersecret" not in text
    assert KEY_HEX not in text
    assert bytes.fromhex(KEY_HEX)[:8].hex() not in text


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "proxy.example"])
def test_unsafe_key_refuses_public_bind(tmp_path: Path, host: str) -> None:
    with pytest.raises(ConfigError, match="non-loopback"):
        Settings.from_env_and_args(_env(tmp_path), ["--unsafe-hpke-key", KEY_HEX, "--host", host])


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--unsafe-hpke-key", "zz"], "hex"),
        (["--unsafe-hpke-key", "abcd"], "32 bytes"),
        (["--api-base", "ftp://x"], "api_base"),
        (["--port", "70000"], "port"),
        (["--max-body-bytes", "0"], "max_body_bytes"),
        (["--api-key-file", "/nonexistent/key"], "cannot read"),
    ],
)
def test_invalid_values_are_config_errors(tmp_path: Path, argv: list[str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Settings.from_env_and_args(_env(tmp_path), argv)


def test_unknown_flag_is_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as info:
        Settings.from_env_and_args(_env(tmp_path), ["--no-such-flag"])
    assert info.value.code == 2


def test_settings_frozen(tmp_path: Path) -> None:
    s = Settings.from_env_and_args(_env(tmp_path), [])
    with pytest.raises(ValueError, match="frozen"):
        s.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("0.0.0.0", False), ("::", False), ("10.0.0.1", False),
     ("example.com", False)],
)  # fmt: skip
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback
