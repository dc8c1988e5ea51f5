"""AMD root of trust: pinned ARK/ASK fingerprints per product, and :class:`AmdTrust`.

The certificates for Milan, Genoa and Turin ship as package data
(:mod:`attestation.trustdata`, loaded by :meth:`AmdTrust.shipped`), so verification needs no
network and no configuration. Files the user names (``--amd-cert-chain``) override a product's
shipped chain. Whatever the source, every constructor named ``pinned*``/``shipped`` accepts a
certificate only if its SHA-256 fingerprint equals the constant below, so the source does not
matter: an override can only ever be the same certificates.

A separately named constructor, :meth:`AmdTrust.unpinned_for_testing`, accepts other roots
(the conformance suite's synthetic chains, the simulated enclave). Production code must never
call it; the resulting object says so in ``pinned`` and ``repr``.

This module does no network I/O; it reads only the package data and files it is told about.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.utils import CryptographyDeprecationWarning

from attestation import trustdata
from attestation.errors import Code, TrustError
from attestation.sev.abi import Product

# AMD VCEKs carry serial number 0 (pyca/cryptography#13287, docs/attestation.md V2.2). We parse
# them knowingly; silence exactly that warning, process-wide, once.
warnings.filterwarnings(
    "ignore",
    message="Parsed a serial number which wasn't positive",
    category=CryptographyDeprecationWarning,
)

# SHA-256 over the DER of each certificate. Provenance: computed by hand on 2026-11-22 from
# the PEM files AMD KDS serves at https://kdsintf.amd.com/vcek/v1/{product}/cert_chain, as
# copied in google/go-sev-guest verify/trust/ (tests/data/trust/amd/*_cert_chain.pem);
# ARK-Genoa/SEV-Genoa also match tinfoilsh/verifier attestation/genoa_cert_chain.pem.
# `openssl x509 -noout -fingerprint -sha256` on each certificate gives the same values.
PINNED_ARK_SHA256: Final[Mapping[Product, str]] = {
    Product.MILAN: "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd",
    Product.GENOA: "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1",
    Product.TURIN: "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a",
}
PINNED_ASK_SHA256: Final[Mapping[Product, str]] = {
    Product.MILAN: "67d303bd3905fd38db8b20e0793699870e7fa612eaad5dec358293fd8c0bac1b",
    Product.GENOA: "5464738c1546aed5f2cecf1dc98c5c960a92e8913238a61711bc90ec6e828521",
    Product.TURIN: "5b77ef5fe7a7a004fd9032668fba9d0fda22f88c4442069a479636a6ae3b3185",
}

MAX_CHAIN_BYTES: Final = 64 * 1024  # two RSA-4096 PEM certificates are ~4.3 KiB
ENV_CERT_CHAIN: Final = "PRIVPROXY_AMD_CERT_CHAIN"


@dataclass(frozen=True, slots=True)
class AmdChain:
    """The product's root (ARK, self-signed) and intermediate (ASK, signed by the ARK)."""

    product: Product
    ark: x509.Certificate
    ask: x509.Certificate


def _fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def _cn(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def _product_of(cert: x509.Certificate, prefix: str) -> Product:
    cn = _cn(cert)
    for product in Product:
        if cn == f"{prefix}-{product.value}":
            return product
    raise TrustError(Code.TRUST_ROOT_INVALID, f"unexpected AMD certificate CN {cn!r}")


def _chain_from_certs(certs: list[x509.Certificate]) -> AmdChain:
    """Pair an ASK and an ARK of the same product and check ARK self-signature + ASK issuance."""
    arks = [c for c in certs if _cn(c).startswith("ARK-")]
    asks = [c for c in certs if _cn(c).startswith("SEV-")]
    if len(arks) != 1 or len(asks) != 1 or len(certs) != 2:
        raise TrustError(
            Code.TRUST_ROOT_INVALID, "an AMD cert chain is exactly one ASK and one ARK"
        )
    ark, ask = arks[0], asks[0]
    product = _product_of(ark, "ARK")
    if _product_of(ask, "SEV") is not product:
        raise TrustError(Code.TRUST_ROOT_INVALID, "ASK and ARK are for different products")
    try:
        ark.verify_directly_issued_by(ark)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise TrustError(Code.ARK_UNTRUSTED, f"ARK-{product} is not self-signed") from exc
    try:
        ask.verify_directly_issued_by(ark)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise TrustError(Code.ASK_INVALID, f"ASK is not signed by ARK-{product}") from exc
    return AmdChain(product=product, ark=ark, ask=ask)


def parse_chain_pem(data: bytes) -> AmdChain:
    """Parse a KDS ``cert_chain`` PEM (ASK + ARK) into an :class:`AmdChain` (not pinned yet)."""
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise TrustError(Code.TRUST_ROOT_INVALID, "AMD cert chain is not PEM") from exc
    return _chain_from_certs(certs)


class AmdTrust:
    """Trusted AMD ARK/ASK per product. Build with :meth:`pinned` in production."""

    __slots__ = ("_chains", "pinned")

    def __init__(self, chains: Iterable[AmdChain], *, pinned: bool) -> None:
        self._chains: dict[Product, AmdChain] = {c.product: c for c in chains}
        self.pinned: bool = pinned

    @classmethod
    def pinned_from_pem(cls, pems: Iterable[bytes]) -> AmdTrust:
        """Load KDS ``cert_chain`` PEMs, refusing any whose fingerprints differ from the pins."""
        return cls([check_pins(parse_chain_pem(p)) for p in pems], pinned=True)

    @classmethod
    def shipped(cls) -> AmdTrust:
        """Every supported product's ARK/ASK from the package data, checked against the pins."""
        pems = []
        for product in Product:
            try:
                pems.append(trustdata.read(f"{product.value}_cert_chain.pem"))
            except (OSError, ValueError) as exc:
                raise TrustError(
                    Code.TRUST_ROOT_INVALID, f"the installed package lacks the {product} chain"
                ) from exc
        return cls.pinned_from_pem(pems)

    def overridden_by(self, other: AmdTrust) -> AmdTrust:
        """A copy where each product of ``other`` replaces this trust's chain for it."""
        if self.pinned != other.pinned:
            raise TrustError(Code.TRUST_ROOT_INVALID, "cannot mix pinned and unpinned AMD roots")
        merged = {**self._chains, **other._chains}
        return AmdTrust(merged.values(), pinned=self.pinned)

    @classmethod
    def pinned_from_files(cls, paths: Iterable[Path]) -> AmdTrust:
        """Like :meth:`pinned_from_pem`, reading each path (``--amd-cert-chain FILE``)."""
        pems = []
        for path in paths:
            try:
                pems.append(Path(path).read_bytes()[: MAX_CHAIN_BYTES + 1])
            except OSError as exc:
                raise TrustError(Code.TRUST_ROOT_INVALID, f"cannot read {path}: {exc}") from exc
        return cls.pinned_from_pem(pems)

    @classmethod
    def unpinned_for_testing(cls, ark_pem: bytes, ask_pem: bytes) -> AmdTrust:
        """Trust an arbitrary ARK/ASK pair. For conformance synthetic chains and simulators only.

        The ARK must still be self-signed and the ASK signed by it; only the pins are skipped.
        """
        try:
            certs = [
                x509.load_pem_x509_certificate(ark_pem),
                x509.load_pem_x509_certificate(ask_pem),
            ]
        except ValueError as exc:
            raise TrustError(Code.TRUST_ROOT_INVALID, "injected ARK/ASK is not PEM") from exc
        return cls([_chain_from_certs(certs)], pinned=False)

    def with_chain(self, chain: AmdChain) -> AmdTrust:
        """A copy that also trusts ``chain`` (which must pass the pins if this trust is pinned)."""
        if self.pinned:
            chain = check_pins(chain)
        return AmdTrust([*self._chains.values(), chain], pinned=self.pinned)

    def products(self) -> frozenset[Product]:
        """Products for which a chain is loaded."""
        return frozenset(self._chains)

    def chain_for(self, product: Product) -> AmdChain:
        """The chain for ``product``; raises :class:`TrustError` if none is loaded."""
        chain = self._chains.get(product)
        if chain is None:
            raise TrustError(
                Code.TRUST_ROOT_INVALID,
                f"no AMD ARK/ASK loaded for {product.value}",
            )
        return chain

    def __repr__(self) -> str:
        kind = "pinned" if self.pinned else "UNPINNED-for-testing"
        names = ",".join(sorted(p.value for p in self._chains))
        return f"AmdTrust({kind}: {names})"


def check_pins(chain: AmdChain) -> AmdChain:
    """Return ``chain`` if both certificates match the in-code pins, else raise."""
    if _fingerprint(chain.ark) != PINNED_ARK_SHA256[chain.product]:
        raise TrustError(Code.AMD_ROOT_UNPINNED, f"ARK-{chain.product} fingerprint is not pinned")
    if _fingerprint(chain.ask) != PINNED_ASK_SHA256[chain.product]:
        raise TrustError(Code.AMD_ROOT_UNPINNED, f"SEV-{chain.product} fingerprint is not pinned")
    return chain


__all__ = [
    "ENV_CERT_CHAIN",
    "PINNED_ARK_SHA256",
    "PINNED_ASK_SHA256",
    "AmdChain",
    "AmdTrust",
    "check_pins",
    "parse_chain_pem",
]
