"""Small secret files in the state directory (the local token, a stored PPQ key).

Written owner-only (file 0600 in a 0700 directory), complete or not at all: a temporary
file created with `O_CREAT|O_EXCL|O_NOFOLLOW`, fsynced, then published under its final
name (`link()` when the first writer must win, `rename()` when a new value replaces the
old). Read back only when it is a regular file of ours that nobody else can read: anything
else is refused rather than trusted (fail closed). Values never appear in messages; paths do.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from privproxy.server.config import ConfigError


def ensure_private_dir(directory: Path) -> None:
    """Create `directory` (mode 0700, parents as needed); raise `ConfigError` if impossible."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create state directory {directory}: {exc.strerror}") from exc


def write_private_file(path: Path, text: str, *, replace: bool) -> None:
    """Publish `text` at `path` atomically, mode 0600. With `replace=False` an existing file
    is kept (the first writer wins); with `replace=True` it is replaced in one step.

    Raises `ConfigError` when the file cannot be written.
    """
    ensure_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(tmp, flags, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot create {path.name} in {path.parent}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            # link() fails if the name exists: nobody overwrites the first writer.
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from exc
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def read_private_file(path: Path, limit: int) -> str:
    """The stripped text of `path` (at most `limit` characters are read).

    Raises `FileNotFoundError` when it does not exist, `ConfigError` when it cannot be read
    or is unsafe: not a regular file, a symlink, another user's, or readable by others.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "r", encoding="ascii", errors="replace") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{path} is not a regular file")
        if info.st_mode & 0o077:
            raise ConfigError(
                f"{path} is accessible by other users "
                f"(mode {stat.S_IMODE(info.st_mode):o}); run: chmod 600 {path}"
            )
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            raise ConfigError(f"{path} belongs to another user")
        return handle.read(limit).strip()


__all__ = ["ensure_private_dir", "read_private_file", "write_private_file"]
