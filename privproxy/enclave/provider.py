"""Where the proxy gets the enclave's key and domain from: the `EnclaveProvider` interface.

The forwarder never sees attestation details; it asks the provider for the current
`EnclaveTarget` before sealing each request, and asks for a refresh when the enclave
answers 422 key-config. Implementations:

* `privproxy.enclave.attested.AttestedProvider`: fetches and verifies the bundle (production).
* `privproxy.enclave.unsafe.UnsafeStaticProvider`: a fixed key from `--unsafe-hpke-key`
  (tests and benchmarks only; never verified).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from attestation.models import VerifiedEnclave


@dataclass(frozen=True, slots=True)
class EnclaveTarget:
    """The key and domain requests are sealed to, plus the proof behind them."""

    domain: str  # hostname only, e.g. "inference.tinfoil.sh"
    hpke_public_key: bytes  # 32 raw X25519 bytes
    verification: VerifiedEnclave | None  # None only for the unsafe static provider
    generation: int  # increases every time the provider adopts a new key or domain

    @property
    def enclave_url(self) -> str:
        """Value of the `X-Tinfoil-Enclave-Url` header (no trailing slash)."""
        return f"https://{self.domain}"

    @property
    def verified(self) -> bool:
        """True when the key came from a verified attestation."""
        return self.verification is not None


class EnclaveProvider(Protocol):
    """Source of the enclave target. All methods are safe to call concurrently."""

    async def start(self) -> None:
        """Begin work (e.g. background verification). Must return promptly."""

    async def close(self) -> None:
        """Stop background work."""

    async def current(self) -> EnclaveTarget:
        """The target to seal to now.

        Raises `privproxy.errors.AttestationUnavailableError` when no verified, fresh
        target exists (its message names the failing step).
        """

    async def refresh(self, stale: EnclaveTarget) -> EnclaveTarget:
        """Re-verify after the enclave rejected `stale`'s key (HTTP 422 key-config).

        Single-flight: concurrent callers share one verification. Returns a target whose
        generation is newer than `stale.generation`, or raises
        `AttestationUnavailableError`.
        """

    def health(self) -> dict[str, Any]:
        """JSON-ready fields merged into `/health`: at least `attestation` (bool) and
        `unsafe` (bool)."""
