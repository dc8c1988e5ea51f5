"""The PPQ key stored through `POST /setup/api-key`, for proxies started without one.

A key from `PPQ_API_KEY` or `--api-key-file` always wins and cannot be replaced over HTTP.
Without one, the key a person stores (status page form, or the route with the local token)
lives in `<state_dir>/api_key` (0600 in a 0700 directory, replaced atomically; see
`privproxy.server.private_files`) and is read once at start. The key is never logged, echoed
or shown; only whether one is set and where it came from.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Final, Literal

from aiohttp import web

from privproxy.server.config import ConfigError, Settings
from privproxy.server.private_files import read_private_file, write_private_file

API_KEY_FILE_NAME: Final = "api_key"
PPQ_KEY_PATTERN: Final = r"sk-[A-Za-z0-9_-]{8,200}"
"""What a PPQ key looks like (the alphabet PPQ issues, with room to grow)."""
_PPQ_KEY: Final = re.compile(PPQ_KEY_PATTERN)

KeySource = Literal["configured", "stored"]


def is_ppq_key(value: str) -> bool:
    """True when `value` has the shape of a PPQ key."""
    return _PPQ_KEY.fullmatch(value) is not None


def api_key_path(state_dir: Path) -> Path:
    """Where a stored key lives."""
    return state_dir / API_KEY_FILE_NAME


def has_stored_key(state_dir: Path) -> bool:
    """Whether a key file exists (not whether it is usable: start-up reads it)."""
    return api_key_path(state_dir).is_file()


class ApiKeyStore:
    """The PPQ key to use right now: the configured one, else the stored one, else none."""

    __slots__ = ("_configured", "_lock", "_path", "_stored")

    def __init__(self, state_dir: Path, configured: str | None, stored: str | None = None):
        self._path = api_key_path(state_dir)
        self._configured = configured
        self._stored = stored
        self._lock = asyncio.Lock()  # one write at a time: the file and memory agree

    @classmethod
    def open(cls, settings: Settings) -> ApiKeyStore:
        """The store for `settings`, with a previously stored key read (at start, once).

        Raises `ConfigError` for an unsafe or malformed key file; creates nothing.
        """
        configured = settings.api_key.get_secret_value() if settings.api_key else None
        store = cls(settings.state_dir, configured)
        if configured is None:
            try:
                stored = read_private_file(store._path, 512)
            except FileNotFoundError:
                return store
            if not is_ppq_key(stored):
                raise ConfigError(f"{store._path} does not hold a PPQ key (sk-...)")
            store._stored = stored
        return store

    @property
    def current(self) -> str | None:
        """The key requests use, if any."""
        return self._configured if self._configured is not None else self._stored

    @property
    def source(self) -> KeySource | None:
        """Where `current` comes from."""
        if self._configured is not None:
            return "configured"
        return "stored" if self._stored is not None else None

    @property
    def can_store(self) -> bool:
        """False when the key comes from the configuration (it wins; HTTP cannot change it)."""
        return self._configured is None

    async def store(self, key: str) -> None:
        """Write `key` (checked to be PPQ-shaped) to the state directory and use it from now
        on. The file work runs off the event loop. Raises `ValueError` for a malformed key,
        `PermissionError` when a configured key is in force, `ConfigError` when the file
        cannot be written (the previous key stays in use)."""
        if not self.can_store:
            raise PermissionError("the PPQ key comes from the configuration")
        if not is_ppq_key(key):
            raise ValueError("not a PPQ key")
        async with self._lock:
            await asyncio.to_thread(write_private_file, self._path, key + "\n", replace=True)
            self._stored = key


API_KEY_STORE_KEY: Final = web.AppKey("privproxy.api_key_store", ApiKeyStore)


def key_setup_hint(token_required: bool) -> str:
    """How to give the proxy a PPQ key. With the local token in force a request's
    `Authorization` carries that token, so a request cannot bring a PPQ key as well."""
    if token_required:
        return (
            "Start the proxy with PPQ_API_KEY (or --api-key-file), or store a key on the "
            "status page (or POST /setup/api-key with the local token). With the local token "
            "required, requests cannot bring their own PPQ key."
        )
    return (
        "Start the proxy with PPQ_API_KEY (or --api-key-file), store a key on the status "
        "page (or POST /setup/api-key), or send your PPQ key with each request as "
        "'Authorization: Bearer sk-...' (or 'x-api-key: sk-...')."
    )


def missing_key_hint(token_required: bool) -> str:
    """The message of a request refused for want of a PPQ key."""
    return f"No PPQ API key. {key_setup_hint(token_required)}"


__all__ = [
    "API_KEY_FILE_NAME",
    "API_KEY_STORE_KEY",
    "PPQ_KEY_PATTERN",
    "ApiKeyStore",
    "KeySource",
    "api_key_path",
    "has_stored_key",
    "is_ppq_key",
    "key_setup_hint",
    "missing_key_hint",
]
