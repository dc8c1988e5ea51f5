"""attestation: verify PPQ/Tinfoil enclave attestation bundles (SEV-SNP, TDX, Sigstore).

Offline, from bytes::

    import datetime as dt
    from attestation import Policy, Trust, verify_bundle

    trust = Trust.production()  # AMD, Sigstore and Intel roots ship with the package
    enclave = verify_bundle(bundle_bytes, policy=Policy.production(), trust=trust,
                            now=dt.datetime.now(dt.UTC))
    enclave.hpke_public_key      # seal EHBP requests to this key, and only this key
    enclave.domain               # ... sent to this enclave

Async, fetching through the gateway (TDX collateral and hardware platforms fetched only for
TDX bundles; AMD KDS only for a bundle that carries no VCEK)::

    from attestation import AiohttpFetcher, Attestor

    async with AiohttpFetcher() as fetcher:
        attestor = Attestor.production(fetcher, cache_dir=user_cache_dir())
        enclave = await attestor.fetch_and_verify("https://api.ppq.ai")

Every failure raises :class:`AttestationError` (subclasses per step) with a stable
:class:`Code` and the :class:`Step` that failed. See ``docs/attestation.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from attestation.errors import (
    AttestationError,
    BundleError,
    Code,
    FetchError,
    HardwareError,
    KeyBindingError,
    MeasurementError,
    ProvenanceError,
    Step,
    TrustError,
)
from attestation.lazy import lazy_attribute
from attestation.models import Measurement, Platform, StepResult, VerifiedEnclave

if TYPE_CHECKING:
    from attestation.attestor import Attestor
    from attestation.fetch import AiohttpFetcher, Fetcher, FetchResult
    from attestation.policy import Policy
    from attestation.sev.policy import SevPolicy
    from attestation.sev.roots import AmdTrust
    from attestation.trust import Trust, user_cache_dir
    from attestation.verifier import verify_bundle

# Heavier names load on first use (PEP 562): importing `attestation.models` from the proxy
# must not pull in pydantic, cryptography or aiohttp before they are needed.
_LAZY: dict[str, str] = {
    "Attestor": "attestation.attestor",
    "AiohttpFetcher": "attestation.fetch",
    "Fetcher": "attestation.fetch",
    "FetchResult": "attestation.fetch",
    "Policy": "attestation.policy",
    "SevPolicy": "attestation.sev.policy",
    "AmdTrust": "attestation.sev.roots",
    "Trust": "attestation.trust",
    "user_cache_dir": "attestation.trust",
    "verify_bundle": "attestation.verifier",
}


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _LAZY, name)


__all__ = [
    "AiohttpFetcher",
    "AmdTrust",
    "AttestationError",
    "Attestor",
    "BundleError",
    "Code",
    "FetchError",
    "FetchResult",
    "Fetcher",
    "HardwareError",
    "KeyBindingError",
    "Measurement",
    "MeasurementError",
    "Platform",
    "Policy",
    "ProvenanceError",
    "SevPolicy",
    "Step",
    "StepResult",
    "Trust",
    "TrustError",
    "VerifiedEnclave",
    "user_cache_dir",
    "verify_bundle",
]
