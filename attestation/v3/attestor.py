"""Async v3 attestation: a fresh nonce per verification, fetch, verify off the event loop.

:class:`V3Attestor` is the v3 counterpart of :class:`attestation.Attestor`. Because the
document is bound to the caller's nonce, fetching and verifying are one operation
(:meth:`V3Attestor.attest`): a document is never cached or reused.

:class:`AutoAttestor` tries v3 first and falls back to the v2 bundle only when the enclave
answers 404 for the v3 endpoint (it serves no v3). Any other v3 failure, a rejection above
all, is final: falling back then would let an attacker downgrade by breaking v3.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Final, Protocol

from attestation.attestor import DEFAULT_TIMEOUT, Clock, utc_now
from attestation.errors import Code, FetchError
from attestation.fetch import Fetcher
from attestation.models import VerifiedEnclave
from attestation.trust import Trust
from attestation.v3.binding import new_nonce
from attestation.v3.fetch import enclave_host, fetch_document
from attestation.v3.verifier import verify_document
from attestation.verifier import StepCallback

log = logging.getLogger("attestation.v3")

DEFAULT_ENCLAVE_URL: Final = "https://inference.tinfoil.sh"


class V3Attestor:
    """Fetch and verify v3 documents from one enclave, for the pinned code repository."""

    def __init__(
        self,
        fetcher: Fetcher,
        *,
        trust: Trust,
        repository: str,
        enclave_url: str = DEFAULT_ENCLAVE_URL,
        clock: Clock = utc_now,
        timeout: float = DEFAULT_TIMEOUT,
        domain: str | None = None,
    ) -> None:
        self._fetcher = fetcher
        self._trust = trust
        self._repository = repository
        self._enclave_url = enclave_url
        # The name traffic is addressed to (X-Tinfoil-Enclave-Url): the host documents come
        # from, unless a caller serves documents from elsewhere (the local simulator).
        self._domain = domain or enclave_host(enclave_url)
        self._clock = clock
        self._timeout = timeout

    @property
    def enclave_url(self) -> str:
        """Where documents are requested."""
        return self._enclave_url

    async def fetch_document(self, nonce: bytes) -> bytes:
        """The document for ``nonce`` (raises :class:`FetchError`)."""
        return await fetch_document(self._fetcher, self._enclave_url, nonce, timeout=self._timeout)

    async def verify(
        self, document: bytes, nonce: bytes, *, on_step: StepCallback | None = None
    ) -> VerifiedEnclave:
        """Verify ``document`` for ``nonce`` at ``clock()`` in a worker thread."""
        return await asyncio.to_thread(
            verify_document,
            document,
            nonce=nonce,
            repository=self._repository,
            trust=self._trust,
            now=self._clock(),
            domain=self._domain,
            on_step=on_step,
        )

    async def attest(self, *, on_step: StepCallback | None = None) -> VerifiedEnclave:
        """New nonce, fetch, verify: the only way the proxy uses v3."""
        nonce = new_nonce()
        document = await self.fetch_document(nonce)
        return await self.verify(document, nonce, on_step=on_step)


class BundleVerifier(Protocol):
    """The v2 side of :class:`AutoAttestor` (an :class:`attestation.Attestor`)."""

    async def fetch_bundle(self, api_base: str) -> bytes:
        """GET the v2 bundle from the gateway."""
        ...

    async def verify(
        self, bundle: bytes, *, on_step: StepCallback | None = None
    ) -> VerifiedEnclave:
        """Verify a v2 bundle."""
        ...


@dataclass
class AutoAttestor:
    """v3 if the enclave serves it, else (404 only) the v2 bundle from the gateway."""

    v3: V3Attestor
    v2: BundleVerifier
    api_base: str
    fallbacks: int = field(default=0, init=False)  # how many verifications used v2

    async def attest(self, *, on_step: StepCallback | None = None) -> VerifiedEnclave:
        """Try v3; on V3_FETCH_NOT_FOUND (and only then) verify the v2 bundle instead."""
        try:
            return await self.v3.attest(on_step=on_step)
        except FetchError as exc:
            if exc.code is not Code.V3_FETCH_NOT_FOUND:
                raise
            log.warning(
                "v3 attestation endpoint absent at %s (HTTP 404); verifying the v2 bundle",
                self.v3.enclave_url,
            )
        self.fallbacks += 1
        bundle = await self.v2.fetch_bundle(self.api_base)
        return await self.v2.verify(bundle, on_step=on_step)


__all__ = ["DEFAULT_ENCLAVE_URL", "AutoAttestor", "BundleVerifier", "V3Attestor"]
