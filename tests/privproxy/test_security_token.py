"""The local token: when it is required, generate-once storage, file safety."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from privproxy.server.config import ConfigError, Settings
from privproxy.server.token import (
    load_or_create_token,
    resolve_token,
    token_path,
    token_required,
)


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"state_dir": tmp_path / "state", "cache_dir": tmp_path / "cache"}
    values.update(overrides)
    return Settings(**values)


@pytest.mark.parametrize(
    ("host", "require", "token", "expected"),
    [
        ("127.0.0.1", None, None, False),
        ("localhost", None, None, False),
        ("::1", None, None, False),
        ("127.0.0.1", True, None, True),
        ("127.0.0.1", None, "x" * 20, True),  # setting PRIVPROXY_TOKEN means "use it"
        ("127.0.0.1", False, "x" * 20, False),
        ("0.0.0.0", None, None, True),
        ("::", None, None, True),
        ("192.0.2.1", None, None, True),
        ("0.0.0.0", True, None, True),
    ],
)
def test_token_required_matrix(
    tmp_path: Path, host: str, require: bool | None, token: str | None, expected: bool
) -> None:
    settings = _settings(
        tmp_path, host=host, require_token=require, token=SecretStr(token) if token else None
    )
    assert token_required(settings) is expected


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "proxy.example"])
def test_no_require_token_on_public_bind_refused(tmp_path: Path, host: str) -> None:
    with pytest.raises(ConfigError, match="requires the local token"):
        token_required(_settings(tmp_path, host=host, require_token=False))


def test_generated_once_with_private_modes(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = load_or_create_token(state)
    path = token_path(state)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert len(first) >= 40
    assert load_or_create_token(state) == first  # reused, not regenerated
    assert [p.name for p in state.iterdir()] == ["token"]  # no temporary files left behind


def test_environment_token_wins_and_no_file_written(tmp_path: Path) -> None:
    token = "env-token-abcdefghijklmnop"
    settings = _settings(tmp_path, require_token=True, token=SecretStr(token))
    assert resolve_token(settings) == token
    assert not (tmp_path / "state").exists()


def test_resolve_without_requirement_touches_nothing(tmp_path: Path) -> None:
    assert resolve_token(_settings(tmp_path)) is None
    assert not (tmp_path / "state").exists()


def test_resolve_generates_file_on_public_bind(tmp_path: Path) -> None:
    token = resolve_token(_settings(tmp_path, host="0.0.0.0"))
    assert token is not None
    assert (tmp_path / "state" / "token").read_text().strip() == token


@pytest.mark.parametrize("bad", ["short", "has space in it 0123456789", "tab\tseparated0123456789"])
def test_unusable_environment_token_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigError):
        resolve_token(_settings(tmp_path, token=SecretStr(bad)))


def test_group_readable_token_file_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    load_or_create_token(state)
    os.chmod(token_path(state), 0o640)
    with pytest.raises(ConfigError, match="accessible by other users"):
        load_or_create_token(state)


def test_symlinked_token_file_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    target = tmp_path / "elsewhere"
    target.write_text("attacker-chosen-token-0123456789\n")
    os.chmod(target, 0o600)
    token_path(state).symlink_to(target)
    with pytest.raises(ConfigError):
        load_or_create_token(state)


def test_empty_token_file_refused_not_regenerated(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    fd = os.open(token_path(state), os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    with pytest.raises(ConfigError):
        load_or_create_token(state)


def test_unwritable_state_dir_is_a_config_error(tmp_path: Path) -> None:
    # A regular file where the state directory's parent must be: creating the directory fails
    # for every user (root ignores permission bits, so a read-only directory would not do).
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with pytest.raises(ConfigError):
        load_or_create_token(blocker / "state")
