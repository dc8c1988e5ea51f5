"""Fetch a v3 document for a nonce: ``GET {enclave}/.well-known/tinfoil-attestation?nonce=``.

The document authenticates itself, so ordinary TLS is enough to fetch it. Bounds: the
injected :class:`attestation.fetch.Fetcher` enforces https (http only to loopback), no
redirects, a total timeout and the 32 MiB body cap. A 404 is reported with its own code
(V3_FETCH_NOT_FOUND): it is the one answer that means "this enclave serves no v3".
"""

from __future__ import annotations

from urllib.parse import urlsplit

from attestation.errors import Code, FetchError
from attestation.fetch import Fetcher, check_url
from attestation.v3.constants import ENDPOINT_PATH, MAX_DOCUMENT_BYTES, NONCE_SIZE


def document_url(enclave_url: str, nonce: bytes) -> str:
    """The document URL for ``nonce`` (64 lowercase hex characters)."""
    if len(nonce) != NONCE_SIZE:
        raise FetchError(Code.V3_CONFIG_BAD_NONCE, f"nonce is {len(nonce)} bytes, need 32")
    url = f"{enclave_url.rstrip('/')}{ENDPOINT_PATH}?nonce={nonce.hex()}"
    check_url(url)
    return url


def enclave_host(enclave_url: str) -> str:
    """The host (and port, if any) a document is requested from: the verified domain."""
    parts = urlsplit(enclave_url)
    if not parts.hostname:
        raise FetchError(Code.FETCH_FAILED, f"enclave URL has no host: {enclave_url!r}")
    return parts.netloc.rsplit("@", 1)[-1]


async def fetch_document(
    fetcher: Fetcher, enclave_url: str, nonce: bytes, *, timeout: float
) -> bytes:
    """The exact response body for ``nonce``; raises :class:`FetchError` otherwise."""
    url = document_url(enclave_url, nonce)
    result = await fetcher.get(
        url, max_bytes=MAX_DOCUMENT_BYTES, timeout=timeout, headers={"Accept": "application/json"}
    )
    if result.status == 404:
        raise FetchError(Code.V3_FETCH_NOT_FOUND, f"{url.split('?')[0]} answered HTTP 404")
    if result.status != 200:
        raise FetchError(
            Code.V3_FETCH_HTTP_STATUS, f"{url.split('?')[0]} answered HTTP {result.status}"
        )
    return result.body


__all__ = ["document_url", "enclave_host", "fetch_document"]
