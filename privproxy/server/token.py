"""The local access token: when it is required, where it comes from, how it is stored.

Why a token at all: docs/protocol.md §4.4 (the Node proxy answered any local process and, through
CORS `*`, any web page). The Host and Origin guards stop browsers; the token also stops other
local users and, on a non-loopback bind, the network.

Rules (issue #6):

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

import contextlib
import os
import secrets
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Final

from privproxy.server.config import ConfigError, is_loopback_host

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

    Creation writes a temporary file with `O_CREAT|O_EXCL` and mode 0600, then `link()`s it to
    the final name, so the token file appears complete or not at all, and a concurrent start
    that loses the race reads the winner's token. Raises `ConfigError` when the file cannot be
    created or read, or when an existing file is unsafe (not a regular file, readable by others).
    """
    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create state directory {state_dir}: {exc.strerror}") from exc
    path = token_path(state_dir)
    try:
        return _read_token_file(path)
    except FileNotFoundError:
        pass
    _publish_new_token(path)
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


def _publish_new_token(path: Path) -> None:
    tmp = path.with_name(f".{TOKEN_FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(tmp, flags, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot create token file in {path.parent}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(_GENERATED_BYTES) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        # link() fails if the name exists: the first writer wins, nobody overwrites.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    except OSError as exc:
        raise ConfigError(f"cannot write token file {path}: {exc.strerror}") from exc
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _read_token_file(path: Path) -> str:
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ConfigError(f"cannot read token file {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "r", encoding="ascii", errors="replace") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"token file {path} is not a regular file")
        if info.st_mode & 0o077:
            raise ConfigError(
                f"token file {path} is accessible by other users "
                f"(mode {stat.S_IMODE(info.st_mode):o}); run: chmod 600 {path}"
            )
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            raise ConfigError(f"token file {path} belongs to another user")
        text = handle.read(MAX_TOKEN_LENGTH + 2).strip()
    return check_token_value(text)


__all__ = [
    "MIN_TOKEN_LENGTH",
    "TOKEN_FILE_NAME",
    "check_token_value",
    "load_or_create_token",
    "resolve_token",
    "token_path",
    "token_required",
]
