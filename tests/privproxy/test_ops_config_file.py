"""`--config FILE`: every flag settable, precedence flags > env > file > defaults, unknown keys
refused by name; `privproxy config --print` masks secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from privproxy.cli.config_cmd import MASK
from privproxy.cli.main import main
from privproxy.server.config import ConfigError, Settings, build_parser
from privproxy.server.config_file import accepted_keys


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "privproxy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"HOME": str(tmp_path), **extra}


def test_precedence(tmp_path: Path) -> None:
    cfg = _write(tmp_path, 'port = 9001\napi-base = "https://file.example"\ncatalog_ttl = 5\n')
    # file over defaults
    s = Settings.from_env_and_args(_env(tmp_path), ["--config", str(cfg)])
    assert (s.port, s.api_base, s.catalog_ttl) == (9001, "https://file.example", 5.0)
    # environment over file
    env = _env(tmp_path, PORT="9002", PPQ_API_BASE="https://env.example")
    s = Settings.from_env_and_args(env, ["--config", str(cfg)])
    assert (s.port, s.api_base, s.catalog_ttl) == (9002, "https://env.example", 5.0)
    # flags over environment
    s = Settings.from_env_and_args(env, ["--config", str(cfg), "--port", "9003"])
    assert (s.port, s.api_base) == (9003, "https://env.example")
    # PRIVPROXY_CONFIG names the file too
    s = Settings.from_env_and_args(_env(tmp_path, PRIVPROXY_CONFIG=str(cfg)), [])
    assert s.port == 9001


def test_switches_lists_and_env_override_of_a_switch(tmp_path: Path) -> None:
    cfg = _write(
        tmp_path,
        "debug = true\nrequire-token = false\n"
        'allowed-origin = ["http://a.example", "http://b.example"]\n'
        'allow-router-option = ["web_search_options"]\nlog-format = "json"\n',
    )
    s = Settings.from_env_and_args(_env(tmp_path), ["--config", str(cfg)])
    assert s.debug and s.require_token is False and s.log_format == "json"
    assert s.allowed_origins == ("http://a.example", "http://b.example")
    assert s.allowed_router_options == ("web_search_options",)
    s = Settings.from_env_and_args(_env(tmp_path, DEBUG="false"), ["--config", str(cfg)])
    assert not s.debug  # the environment says otherwise


def test_every_flag_is_a_key() -> None:
    flags = {
        opt.removeprefix("--").replace("-", "_")
        for action in build_parser()._actions
        for opt in action.option_strings[:1]
        if opt.startswith("--") and opt not in ("--help", "--config")
    }
    assert set(accepted_keys(build_parser())) == flags


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour = 1\n", "unknown key 'colour'"),
        ("api-key = 'sk-x'\n", "unknown key 'api-key'"),
        ("config = 'other.toml'\n", "unknown key 'config'"),
        ("port = 'abc'\n", "--port: invalid int value"),
        ("debug = 'yes'\n", "'debug' must be true or false"),
        ("port = [1, 2]\n", "'port' has a value of the wrong type"),
        ("log-format = 'xml'\n", "invalid choice"),
        ("port = \n", "not valid TOML"),
    ],
)
def test_bad_files_refused(tmp_path: Path, text: str, message: str) -> None:
    cfg = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=message):
        Settings.from_env_and_args(_env(tmp_path), ["--config", str(cfg)])


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        Settings.from_env_and_args(_env(tmp_path), ["--config", str(tmp_path / "none.toml")])


def test_serve_exits_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = _write(tmp_path, "prot = 8080\n")
    assert main(["serve", "--config", str(cfg)]) == 2
    assert "unknown key 'prot'" in capsys.readouterr().err


def test_config_print_masks_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tomllib

    key = "sk-secret-value-1234567890"
    token = "local-token-abcdefghijkl"
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PPQ_API_KEY", key)
    monkeypatch.setenv("PRIVPROXY_TOKEN", token)
    cfg = _write(tmp_path, "port = 9100\nunsafe-hpke-key = '" + "ab" * 32 + "'\n")
    assert main(["config", "--print", "--config", str(cfg), "--host", "localhost"]) == 0
    out = capsys.readouterr().out
    assert key not in out and token not in out and "ab" * 32 not in out
    printed = tomllib.loads(out)  # the output is TOML
    assert printed["port"] == 9100 and printed["host"] == "localhost"
    assert printed["api_key"] == MASK and printed["token"] == MASK
    assert printed["unsafe_hpke_key"] == MASK
    assert main(["config"]) == 2  # nothing asked


def test_config_print_shows_unset_values_as_comments() -> None:
    from privproxy.cli.config_cmd import effective_config, render
    from privproxy.server.config import Settings

    text = render(effective_config(Settings(state_dir="/tmp/s", cache_dir="/tmp/c")))
    assert "# require_token: not set" in text and "# api_key: not set" in text


def test_attestation_format_from_file_env_flag(tmp_path: Path) -> None:
    cfg = _write(tmp_path, 'attestation = "v3"\n')
    s = Settings.from_env_and_args(_env(tmp_path), ["--config", str(cfg)])
    assert s.attestation == "v3"
    env = _env(tmp_path, PRIVPROXY_ATTESTATION="auto")
    assert Settings.from_env_and_args(env, ["--config", str(cfg)]).attestation == "auto"
    flags = ["--config", str(cfg), "--attestation", "v2"]
    assert Settings.from_env_and_args(env, flags).attestation == "v2"
