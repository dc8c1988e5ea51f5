"""The verification policy: one frozen value composed of the per-step policies.

``Policy.production()`` is what the proxy uses: SEV-SNP defaults of docs/attestation.md V2.3,
Tinfoil's TDX pins (V3.4), and the Sigstore identity of
``tinfoilsh/confidential-model-router`` release workflows (V4.2 step 6).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from attestation.sev.policy import SevPolicy

if TYPE_CHECKING:
    from attestation.provenance.policy import SigstorePolicy
    from attestation.tdx.policy import TdxPolicy


def _sigstore_production() -> SigstorePolicy:
    from attestation.provenance.policy import SigstorePolicy

    return SigstorePolicy.production()


def _tdx_production(extra_mr_seams: Sequence[bytes] = ()) -> TdxPolicy:
    from attestation.tdx.policy import TdxPolicy

    return TdxPolicy.production(extra_mr_seams)


@dataclass(frozen=True, slots=True)
class Policy:
    """What evidence must satisfy besides being authentic. Always passed explicitly."""

    sev: SevPolicy = field(default_factory=SevPolicy.production)
    tdx: TdxPolicy = field(default_factory=_tdx_production)
    sigstore: SigstorePolicy = field(default_factory=_sigstore_production)

    @classmethod
    def production(
        cls, repository: str | None = None, *, tdx_mr_seam_allow: Sequence[bytes] = ()
    ) -> Policy:
        """Production policy; ``repository`` overrides the code repository (owner/name).

        ``tdx_mr_seam_allow`` adds operator-configured TDX modules (logged at WARNING).
        """
        from attestation.provenance.policy import SigstorePolicy

        sigstore = (
            SigstorePolicy.production()
            if repository is None
            else SigstorePolicy.production(repository)
        )
        return cls(
            sev=SevPolicy.production(),
            tdx=_tdx_production(tdx_mr_seam_allow),
            sigstore=sigstore,
        )


__all__ = ["Policy"]
