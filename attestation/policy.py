"""The verification policy: one frozen value composed of the per-step policies.

``Policy.production()`` is what the proxy uses: SEV-SNP defaults of docs/attestation.md V2.3,
Tinfoil's TDX pins (V3.4), and the Sigstore identity of
``tinfoilsh/confidential-model-router`` release workflows (V4.2 step 6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from attestation.sev.policy import SevPolicy

if TYPE_CHECKING:
    from attestation.provenance.policy import SigstorePolicy
    from attestation.tdx.policy import TdxPolicy


def _sigstore_production() -> SigstorePolicy:
    from attestation.provenance.policy import SigstorePolicy

    return SigstorePolicy.production()


def _tdx_production() -> TdxPolicy:
    from attestation.tdx.policy import TdxPolicy

    return TdxPolicy.production()


@dataclass(frozen=True, slots=True)
class Policy:
    """What evidence must satisfy besides being authentic. Always passed explicitly."""

    sev: SevPolicy = field(default_factory=SevPolicy.production)
    tdx: TdxPolicy = field(default_factory=_tdx_production)
    sigstore: SigstorePolicy = field(default_factory=_sigstore_production)

    @classmethod
    def production(cls, repository: str | None = None) -> Policy:
        """Production policy; ``repository`` overrides the code repository (owner/name)."""
        from attestation.provenance.policy import SigstorePolicy

        sigstore = (
            SigstorePolicy.production()
            if repository is None
            else SigstorePolicy.production(repository)
        )
        return cls(sev=SevPolicy.production(), tdx=_tdx_production(), sigstore=sigstore)


__all__ = ["Policy"]
