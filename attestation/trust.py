"""Trust roots, composed: AMD ARK/ASK, the Sigstore trusted root, the Intel SGX root.

``Trust.production()`` loads only pinned material and does no network I/O: the AMD ARK/ASK of
every supported product ship with the package (:mod:`attestation.trustdata`), optionally
overridden per product by ``--amd-cert-chain`` files; every AMD certificate, whatever its
source, must match the in-code pins of :mod:`attestation.sev.roots`. The Sigstore root is the
shipped one unless an operator names an updated ``trusted_root.json``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from attestation.errors import Code, TrustError
from attestation.sev.roots import ENV_CERT_CHAIN, AmdTrust

if TYPE_CHECKING:
    from attestation.provenance.trust import SigstoreTrust
    from attestation.tdx.trust import IntelTrust


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/privproxy`` (default ``~/.cache/privproxy``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "privproxy"


def amd_chain_files_from_env(environ: dict[str, str] | None = None) -> list[Path]:
    """Paths listed in ``$PRIVPROXY_AMD_CERT_CHAIN`` (``os.pathsep``-separated)."""
    env = os.environ if environ is None else environ
    value = env.get(ENV_CERT_CHAIN, "")
    return [Path(p) for p in value.split(os.pathsep) if p]


@dataclass(frozen=True, slots=True)
class Trust:
    """Everything verification trusts. A missing part fails closed at the step needing it."""

    amd: AmdTrust
    sigstore: SigstoreTrust | None = None
    intel: IntelTrust | None = None

    @classmethod
    def production(
        cls,
        *,
        amd_chain_files: Iterable[Path] = (),
        sigstore_trust_root: Path | None = None,
    ) -> Trust:
        """Shipped pinned AMD chains (files override, same pins), Sigstore root, Intel root.

        ``sigstore_trust_root`` names an updated ``trusted_root.json`` to use instead of the
        shipped one (``--sigstore-trust-root``).
        """
        from attestation.provenance.trust import SigstoreTrust
        from attestation.tdx.trust import IntelTrust

        amd = AmdTrust.shipped()
        files = list(amd_chain_files)
        if files:
            amd = amd.overridden_by(AmdTrust.pinned_from_files(files))
        sigstore = (
            SigstoreTrust.production()
            if sigstore_trust_root is None
            else SigstoreTrust.from_file(sigstore_trust_root)
        )
        return cls(amd=amd, sigstore=sigstore, intel=IntelTrust.production())

    def with_amd(self, amd: AmdTrust) -> Trust:
        """A copy with different AMD trust."""
        return replace(self, amd=amd)

    def require_sigstore(self) -> SigstoreTrust:
        """The Sigstore root, or TRUST_ROOT_INVALID if none was configured."""
        if self.sigstore is None:
            raise TrustError(Code.TRUST_ROOT_INVALID, "no Sigstore trusted root configured")
        return self.sigstore

    def require_intel(self) -> IntelTrust:
        """The Intel SGX root, or TRUST_ROOT_INVALID if none was configured."""
        if self.intel is None:
            raise TrustError(Code.TRUST_ROOT_INVALID, "no Intel SGX root configured")
        return self.intel


__all__ = ["Trust", "amd_chain_files_from_env", "user_cache_dir"]
