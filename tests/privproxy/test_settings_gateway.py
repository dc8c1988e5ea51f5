"""Settings for the gateway hop: values the gateway client could not send are refused at
start as configuration errors (never a 500 per request), and plain http to a non-loopback
gateway needs an explicit flag because the PPQ key would travel in clear."""

from __future__ import annotations

from pathlib import Path

import pytest

from privproxy.server.config import ConfigError, Settings

SECRETISH = "sk-caf\u00e9-0123456789"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {"HOME": str(tmp_path / "home")}
    env.update(extra)
    return env


@pytest.mark.parametrize(
    "url",
    ["http://api.ppq.ai", "http://192.0.2.10:8080", "http://[2001:db8::1]", "http://10.0.0.1"],
)
def test_plain_http_to_a_non_loopback_gateway_is_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match="--allow-insecure-api-base"):
        Settings.from_env_and_args(_env(tmp_path), ["--api-base", url])
    with pytest.raises(ConfigError, match="in clear"):
        Settings.from_env_and_args(_env(tmp_path, PPQ_API_BASE=url), [])


def test_plain_http_to_a_non_loopback_gateway_with_the_flag(tmp_path: Path) -> None:
    argv = ["--api-base", "http://gateway.internal:8080", "--allow-insecure-api-base"]
    settings = Settings.from_env_and_args(_env(tmp_path), argv)
    assert settings.api_base == "http://gateway.internal:8080"
    assert settings.allow_insecure_api_base


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9000", "http://localhost:9000", "http://[::1]:9000", "https://x.example"],
)
def test_loopback_http_and_any_https_need_no_flag(tmp_path: Path, url: str) -> None:
    assert Settings.from_env_and_args(_env(tmp_path), ["--api-base", url]).api_base == url


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("https://api.ppq.ai:99999", "not a valid URL"),
        ("https://api.ppq.ai:port", "not a valid URL"),
        ("https://api.ppq.ai:0", "port 0"),
        ("https://b\u00fccher.example", "ASCII"),
        ("https://user:pw@api.ppq.ai", "credentials"),
        ("https://api.ppq.ai/?x=1", "query"),
        ("https://api.ppq.ai/#frag", "fragment"),
        ("https:///path", "no host"),
        ("https://api.ppq.ai/a b", "path"),
    ],
)
def test_api_base_the_client_cannot_use_is_a_config_error(
    tmp_path: Path, url: str, match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        Settings.from_env_and_args(_env(tmp_path), ["--api-base", url])


@pytest.mark.parametrize(
    "key", [SECRETISH, "sk-with space-0123456789", "sk-tab\t0123456789", "sk-nl\n0123456789"]
)
def test_api_key_a_header_cannot_carry_is_a_config_error(tmp_path: Path, key: str) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(key + "x", encoding="utf-8")  # not the last char: strip() keeps it
    for source in (
        {"environ": _env(tmp_path, PPQ_API_KEY=key + "x"), "argv": []},
        {"environ": _env(tmp_path), "argv": ["--api-key-file", str(key_file)]},
    ):
        with pytest.raises(ConfigError, match="printable ASCII") as caught:
            Settings.from_env_and_args(**source)  # type: ignore[arg-type]
        assert key not in str(caught.value)
        assert "caf" not in str(caught.value)  # not even a piece of it


def test_validation_errors_never_show_the_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as caught:
        Settings(api_key=SECRETISH, state_dir=tmp_path, cache_dir=tmp_path)
    assert "caf" not in str(caught.value)


def test_unsafe_enclave_url_must_be_printable_ascii(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unsafe_enclave_url"):
        Settings.from_env_and_args(
            _env(tmp_path), ["--unsafe-enclave-url", "https://encl\u00e4ve.example"]
        )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--api-base", "http://api.ppq.ai"], "--allow-insecure-api-base"),
        (["--api-base", "https://api.ppq.ai:70000"], "api_base"),
    ],
)
def test_serve_refuses_such_values_at_start_with_exit_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    expected: str,
) -> None:
    from privproxy.cli import main as cli

    monkeypatch.setenv("PRIVPROXY_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("PRIVPROXY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PPQ_API_KEY", SECRETISH.replace("\u00e9", "e"))
    assert cli.main(["serve", *argv]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert expected in err
    assert "sk-cafe" not in err
