"""The only module of `attestation` that touches the network.

Everything else receives a :class:`Fetcher`. The one implementation, :class:`AiohttpFetcher`
(aiohttp is the project's only HTTP stack), follows these rules: https only (plain http only to
loopback), redirects refused, every body size-capped while it streams, every request bounded by
a total timeout, no proxy from the environment. Failures raise
:class:`attestation.errors.FetchError` (FETCH_FAILED), never a verdict on evidence.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self
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


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One request as :class:`BaseFetcher` hands it to ``_request`` (URL already checked)."""

    method: str
    url: str
    body: bytes | None
    max_bytes: int
    timeout: float  # seconds, for the whole exchange
    headers: dict[str, str]


def _check_size(url: str, size: int, max_bytes: int, *, declared: bool = False) -> None:
    if size > max_bytes:
        what = f"body of {size} bytes exceeds" if declared else "body exceeds"
        raise FetchError(Code.FETCH_FAILED, f"{url}: {what} {max_bytes} bytes")


def _timed_out(request: HttpRequest) -> FetchError:
    return FetchError(Code.FETCH_FAILED, f"{request.url}: timed out after {request.timeout:g}s")


class BaseFetcher:
    """A :class:`Fetcher` built on one method: subclasses implement :meth:`_request`.

    Shared by both fetchers here (and by the tests' fakes): :meth:`get` and :meth:`post` check
    the URL with :func:`check_url`, then hand over; ``async with`` calls :meth:`close`.
    """

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Release what the fetcher holds (nothing by default)."""

    async def get(
        self, url: str, *, max_bytes: int, timeout: float, headers: Mapping[str, str] | None = None
    ) -> FetchResult:
        """GET with the bounds described in the module docstring."""
        check_url(url)
        return await self._request(
            HttpRequest("GET", url, None, max_bytes, timeout, dict(headers or {}))
        )

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
        check_url(url)
        return await self._request(
            HttpRequest("POST", url, body, max_bytes, timeout, dict(headers or {}))
        )

    async def _request(self, request: HttpRequest) -> FetchResult:
        """Send one request (URL already checked); the body capped, the total time bounded."""
        raise NotImplementedError


class AiohttpFetcher(BaseFetcher):
    """:class:`Fetcher` over one ``aiohttp.ClientSession`` (created lazily, or supplied)."""

    def __init__(self, session: aiohttp.ClientSession | None = None) -> None:
        self._session = session
        self._owns_session = session is None

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

    async def _request(self, request: HttpRequest) -> FetchResult:
        import aiohttp

        url, max_bytes = request.url, request.max_bytes
        session = self._get_session()
        try:
            async with session.request(
                request.method,
                url,
                data=request.body,
                headers=request.headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=request.timeout),
            ) as resp:
                if resp.content_length is not None:
                    _check_size(url, resp.content_length, max_bytes, declared=True)
                data = bytearray()
                async for chunk in resp.content.iter_chunked(64 * 1024):
                    data += chunk
                    _check_size(url, len(data), max_bytes)
                response_headers = {k.lower(): v for k, v in resp.headers.items()}
                return FetchResult(status=resp.status, headers=response_headers, body=bytes(data))
        except TimeoutError as exc:
            raise _timed_out(request) from exc
        except aiohttp.ClientError as exc:
            raise FetchError(Code.FETCH_FAILED, f"{url}: {type(exc).__name__}: {exc}") from exc


__all__ = [
    "AiohttpFetcher",
    "BaseFetcher",
    "FetchResult",
    "Fetcher",
    "HttpRequest",
    "check_url",
    "is_loopback_host",
]
