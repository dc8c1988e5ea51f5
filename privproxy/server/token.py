"""The local access token: when it is required, where it comes from, how it is stored.

Why a token at all: docs/protocol.md §4.4 (the Node proxy answered any local process and, through
CORS `*`, any web page). The Host and Origin guards stop browsers; the token also stops other
local users and, on a non-loopback bind, the network.

Rules:

* `--require-token` forces it on, `--no-require-token` forces it off; the default (`None`) turns
  it on when the bind address is not loopback or when `PRIVPROXY_TOKEN` is set. A non-loopback
  bind with `--no-require-token` is refused (the container case: `0.0.0.0` needs the token).
* The token is `PRIVPROXY_TOKEN` when set, otherwise it is generated once into
  `<state_dir>/token` (directory 0700, file 0600, published atomically with `link()` so a
  concurrent start never reads a half-written file) and reused on later starts.
* An existing token file that other users can read, or that is not a regular file, is refused
  rather than trusted (fail closed).

The token value is never logged; only the file path is.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Final

from privproxy.server.config import ConfigError, is_loopback_host
from privproxy.server.private_files import ensure_private_dir, read_private_file, write_private_file

if TYPE_CHECKING:
    from privproxy.server.config import Settings

TOKEN_FILE_NAME: Final = "token"  # noqa: S105 (a file name, not a secret)
MIN_TOKEN_LENGTH: Final = 16
"""Shortest accepted token (characters); generated tokens have 43 (32 random bytes)."""
MAX_TOKEN_LENGTH: Final = 512
_GENERATED_BYTES: Final = 32
# RFC 6750 b64token characters: a token outside this set could not travel in a Bearer header.
_B64TOKEN_CHARS: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/="
)


def token_required(settings: Settings) -> bool:
    """Whether requests must carry `Authorization: Bearer <token>`.

    Raises `ConfigError` for `--no-require-token` on a non-loopback bind address.
    """
    loopback = is_loopback_host(settings.host)
    if settings.require_token is False:
        if not loopback:
            raise ConfigError(
                f"binding the non-loopback address {settings.host!r} requires the local token; "
                "drop --no-require-token"
            )
        return False
    if settings.require_token is True:
        return True
    return not loopback or settings.token is not None


def check_token_value(value: str) -> str:
    """Return `value` if it is usable as a Bearer token, else raise `ConfigError`."""
    if not MIN_TOKEN_LENGTH <= len(value) <= MAX_TOKEN_LENGTH:
        raise ConfigError(
            f"the local token must be {MIN_TOKEN_LENGTH}..{MAX_TOKEN_LENGTH} characters"
        )
    if not set(value) <= _B64TOKEN_CHARS:
        raise ConfigError("the local token may only contain letters, digits and -._~+/=")
    return value


def token_path(state_dir: Path) -> Path:
    """Where the generated token lives."""
    return state_dir / TOKEN_FILE_NAME


def load_or_create_token(state_dir: Path) -> str:
    """Read `<state_dir>/token`, creating it (0600, in a 0700 directory) on first use.

    Creation writes a temporary file and `link()`s it to the final name
    (`privproxy.server.private_files`), so the token file appears complete or not at all, and
    a concurrent start that loses the race reads the winner's token. Raises `ConfigError` when
    the file cannot be created or read, or when an existing file is unsafe (not a regular file,
    readable by others).
    """
    ensure_private_dir(state_dir)
    path = token_path(state_dir)
    try:
        return _read_token_file(path)
    except FileNotFoundError:
        pass
    write_private_file(path, secrets.token_urlsafe(_GENERATED_BYTES) + "\n", replace=False)
    try:
        return _read_token_file(path)
    except FileNotFoundError as exc:  # removed between link() and open(): give up loudly
        raise ConfigError(f"token file {path} vanished while starting") from exc


def resolve_token(settings: Settings) -> str | None:
    """The token to enforce, or None when no token is required.

    `PRIVPROXY_TOKEN` (settings.token) wins; otherwise the state-directory file is used.
    """
    if not token_required(settings):
        return None
    if settings.token is not None:
        return check_token_value(settings.token.get_secret_value())
    return load_or_create_token(settings.state_dir)


def _read_token_file(path: Path) -> str:
    return check_token_value(read_private_file(path, MAX_TOKEN_LENGTH + 2))


__all__ = [
    "MIN_TOKEN_LENGTH",
    "TOKEN_FILE_NAME",
    "check_token_value",
    "load_or_create_token",
    "resolve_token",
    "token_path",
    "token_required",
]
