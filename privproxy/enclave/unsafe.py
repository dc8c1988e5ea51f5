"""UNSAFE: a fixed enclave key from `--unsafe-hpke-key`, with attestation skipped.

For tests, benchmarks and the offline demo only. Nothing proves that the key belongs to an
enclave, so the gateway (or anyone in between) could hold the private key. The proxy logs a
loud warning at start, reports `"attestation": false, "unsafe": true` on `/health`, and
`Settings` refuses a non-loopback bind address while this key is set.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from privproxy.enclave.provider import EnclaveTarget
from privproxy.server.config import ConfigError, Settings

WARNING = (
    "UNSAFE MODE: attestation is DISABLED (--unsafe-hpke-key). Requests are encrypted to a key "
    "nobody verified; do not use this with real prompts."
)


class UnsafeStaticProvider:
    """`EnclaveProvider` returning one static, unverified target."""

    def __init__(self, public_key: bytes, enclave_url: str) -> None:
        host = urlsplit(enclave_url).netloc
        if len(public_key) != 32 or not host:
            raise ConfigError("unsafe provider needs a 32-byte key and an enclave URL with a host")
        self._target = EnclaveTarget(
            domain=host, hpke_public_key=public_key, verification=None, generation=0
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> UnsafeStaticProvider:
        """Build from `unsafe_hpke_key` / `unsafe_enclave_url`; raises when no key is set."""
        if settings.unsafe_hpke_key is None:
            raise ConfigError("unsafe provider requested without --unsafe-hpke-key")
        return cls(settings.unsafe_hpke_key, settings.unsafe_enclave_url)

    async def start(self) -> None:
        """Nothing to verify."""

    async def close(self) -> None:
        """Nothing to stop."""

    async def current(self) -> EnclaveTarget:
        """The static target."""
        return self._target

    async def refresh(self, stale: EnclaveTarget) -> EnclaveTarget:
        """No way to learn a new key: the same key with a newer generation (the retry will
        fail the same way and surface as 502, which is the honest outcome)."""
        generation = max(stale.generation, self._target.generation) + 1
        self._target = EnclaveTarget(
            domain=self._target.domain,
            hpke_public_key=self._target.hpke_public_key,
            verification=None,
            generation=generation,
        )
        return self._target

    def health(self) -> dict[str, Any]:
        """`/health` fields: never claims attestation."""
        return {"attestation": False, "unsafe": True, "enclave": self._target.domain}


__all__ = ["WARNING", "UnsafeStaticProvider"]
