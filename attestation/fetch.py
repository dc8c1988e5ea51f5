"""The only module of `attestation` that touches the network.

Everything else receives a :class:`Fetcher`. :class:`AiohttpFetcher` is the production one:
https only (plain http only to loopback), redirects refused, every body size-capped while it
streams, every request bounded by a total timeout. Failures raise
:class:`attestation.errors.FetchError` (FETCH_FAILED), never a verdict on evidence.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from attestation.errors import Code, FetchError

if TYPE_CHECKING:
    import aiohttp


@dataclass(frozen=True, slots=True)
class FetchResult:
    """An HTTP answer: status, headers (lowercase names) and the whole (capped) body."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


class Fetcher(Protocol):
    """Async HTTP access, injected into whatever needs the network."""

    async def get(
        self, url: str, *, max_bytes: int, timeout: float, headers: Mapping[str, str] | None = None
    ) -> FetchResult:
        """GET ``url``; at most ``max_bytes`` of body, ``timeout`` seconds in total."""
        ...

    async def post(
        self,
        url: str,
        *,
        body: bytes,
        max_bytes: int,
        timeout: float,
        headers: Mapping[str, str] | None = None,
    ) -> FetchResult:
        """POST ``body`` to ``url``, with the same bounds as :meth:`get`."""
        ...


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> None:
    """Require https, or http to a loopback host (local test servers). Raises FetchError."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        raise FetchError(Code.FETCH_FAILED, f"URL has no host: {url!r}")
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(host)):
        return
    raise FetchError(Code.FETCH_FAILED, f"refusing non-https URL {url!r} (http only to loopback)")


class AiohttpFetcher:
    """:class:`Fetcher` over one ``aiohttp.ClientSession`` (created lazily, or supplied)."""

    def __init__(self, session: aiohttp.ClientSession | None = None) -> None:
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> AiohttpFetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session if this fetcher created it."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _get_session(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def get(
        self, url: str, *, max_bytes: int, timeout: float, headers: Mapping[str, str] | None = None
    ) -> FetchResult:
        """GET with the bounds described in the module docstring."""
        return await self._request("GET", url, None, max_bytes, timeout, headers)

    async def post(
        self,
        url: str,
        *,
        body: bytes,
        max_bytes: int,
        timeout: float,
        headers: Mapping[str, str] | None = None,
    ) -> FetchResult:
        """POST with the bounds described in the module docstring."""
        return await self._request("POST", url, body, max_bytes, timeout, headers)

    async def _request(
        self,
        method: str,
        url: str,
        body: bytes | None,
        max_bytes: int,
        timeout: float,
        headers: Mapping[str, str] | None,
    ) -> FetchResult:
        import aiohttp

        check_url(url)
        session = self._get_session()
        try:
            async with session.request(
                method,
                url,
                data=body,
                headers=dict(headers or {}),
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as resp:
                declared = resp.content_length
                if declared is not None and declared > max_bytes:
                    raise FetchError(
                        Code.FETCH_FAILED, f"{url}: body of {declared} bytes exceeds {max_bytes}"
                    )
                data = bytearray()
                async for chunk in resp.content.iter_chunked(64 * 1024):
                    data += chunk
                    if len(data) > max_bytes:
                        raise FetchError(
                            Code.FETCH_FAILED, f"{url}: body exceeds {max_bytes} bytes"
                        )
                response_headers = {k.lower(): v for k, v in resp.headers.items()}
                return FetchResult(status=resp.status, headers=response_headers, body=bytes(data))
        except TimeoutError as exc:
            raise FetchError(Code.FETCH_FAILED, f"{url}: timed out after {timeout:g}s") from exc
        except aiohttp.ClientError as exc:
            raise FetchError(Code.FETCH_FAILED, f"{url}: {type(exc).__name__}: {exc}") from exc


__all__ = ["AiohttpFetcher", "FetchResult", "Fetcher", "check_url", "is_loopback_host"]
