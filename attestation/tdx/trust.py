"""Intel trust anchor for TDX: the Intel SGX Root CA, identified by a pinned key.

Where the pin comes from: docs/attestation.md, "Roots and policy".

The root certificate itself travels inside every quote's PCK chain and every PCS issuer chain,
so nothing is shipped: we only pin the SHA-256 of its SubjectPublicKeyInfo (DER).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from attestation.errors import Code, TrustError

# SHA-256 of the DER SubjectPublicKeyInfo of "Intel SGX Root CA" (P-256, 2018-05-21..2049-12-31,
# serial 22650cd65a9d3489f383b49552bf501b392706ac). Computed once from the copy served at
# https://certificates.trustedservices.intel.com/Intel_SGX_Provisioning_Certification_RootCA.pem
# (identical to tinfoilsh/verifier attestation/sgx_root_ca.pem). Pinning the key, not the
# certificate, keeps a re-issued root with the same key valid, as Intel's QVL does.
INTEL_SGX_ROOT_CA_SPKI_SHA256 = "a0af031289f5d5d4132f9186068a7fc13628633ba235777472e29b6b6c67a49e"


def spki_sha256(cert: x509.Certificate) -> str:
    """Lowercase hex SHA-256 of a certificate's DER SubjectPublicKeyInfo."""
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


@dataclass(frozen=True, slots=True)
class IntelTrust:
    """The accepted Intel SGX root keys, as SPKI SHA-256 pins (lowercase hex)."""

    root_spki_sha256: frozenset[str]

    @classmethod
    def production(cls) -> IntelTrust:
        """Trust exactly the Intel SGX Root CA key."""
        return cls(root_spki_sha256=frozenset({INTEL_SGX_ROOT_CA_SPKI_SHA256}))

    @classmethod
    def from_root_pem(cls, pem: str | bytes) -> IntelTrust:
        """Trust the key of one PEM root certificate (tests, synthetic conformance roots)."""
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            certs = x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise TrustError(
                Code.TRUST_ROOT_INVALID, f"Intel root PEM does not parse: {exc}"
            ) from exc
        if len(certs) != 1:
            raise TrustError(
                Code.TRUST_ROOT_INVALID, f"expected 1 root certificate, got {len(certs)}"
            )
        return cls(root_spki_sha256=frozenset({spki_sha256(certs[0])}))

    def is_trusted_root(self, cert: x509.Certificate) -> bool:
        """True when `cert` carries a pinned root key."""
        return spki_sha256(cert) in self.root_spki_sha256


__all__ = ["INTEL_SGX_ROOT_CA_SPKI_SHA256", "IntelTrust", "spki_sha256"]
