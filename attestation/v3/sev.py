"""SEV-SNP evidence in a v3 document: authenticate the report with the carried collateral.

Reuses the v2 building blocks (``attestation.sev``: report parser, VCEK chain and format,
report signature) and adds what v3 requires: the VCEK and the AMD CRL come only from the
document, revocation is mandatory (CRL window, issuer, signature, ASK/VCEK serials), only
Genoa and Turin v3+ reports are accepted, and the signer must be an unmasked VCEK.

The ASK/ARK the document carries are shape-checked only. The chain used is the caller's
trusted one for the product; with pinned trust and no chain loaded yet, the carried pair is
accepted only if both certificates match the in-code fingerprint pins, which is the same
trust as loading them from AMD KDS.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from attestation.errors import AttestationError, Code, HardwareError, PolicyError
from attestation.sev.abi import SIGNING_KEY_VCEK, Product, SevReport, parse_report
from attestation.sev.certs import (
    VcekExtensions,
    check_vcek_matches_report,
    load_vcek,
    verify_vcek_chain,
)
from attestation.sev.roots import AmdChain, AmdTrust, check_pins, parse_chain_pem
from attestation.sev.verify import verify_report_signature
from attestation.v3.constants import COLL_AMD_CRL, COLL_AMD_VCEK, CPU_SUBJECT, ROLE_ENDORSEMENT
from attestation.v3.document import Document, canonical_b64

_PEM_PAIR: Final = re.compile(
    r"(-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n?){2}"
)
_V3_PRODUCTS: Final = frozenset({Product.GENOA, Product.TURIN})
# v2 codes raised by the shared SEV blocks -> the v3 code for the same failure.
_CODES: Final = {
    Code.REPORT_SIGNATURE_INVALID: Code.V3_QUOTE_SIGNATURE,
    Code.SIGNER_INFO_INVALID: Code.V3_QUOTE_SIGNER,
    Code.VCEK_TCB_MISMATCH: Code.V3_POLICY_TCB,
    Code.VCEK_HWID_MISMATCH: Code.V3_POLICY_FIELDS,
    Code.VCEK_CHAIN_INVALID: Code.V3_QUOTE_VCEK_INVALID,
    Code.AMD_ROOT_UNPINNED: Code.V3_QUOTE_CHAIN,
    Code.ARK_UNTRUSTED: Code.V3_QUOTE_CHAIN,
    Code.ASK_INVALID: Code.V3_QUOTE_CHAIN,
    Code.VCEK_EXPIRED: Code.V3_QUOTE_CHAIN,
    Code.TRUST_ROOT_INVALID: Code.V3_QUOTE_CHAIN,
}


@dataclass(frozen=True, slots=True)
class AuthenticatedSev:
    """A report whose VCEK chain, revocation status and signature verified."""

    report: SevReport
    vcek: x509.Certificate
    vcek_extensions: VcekExtensions

    @property
    def identity(self) -> str:
        """The machine identity the endorsements are keyed by: CHIP_ID, lowercase hex."""
        return self.report.chip_id.hex()


def _quote(code: Code, message: str) -> HardwareError:
    return HardwareError(code, message)


def _mapped(
    exc: AttestationError, default: Code, *, chain_phase: bool = False
) -> HardwareError | PolicyError:
    # While the chain itself is checked, every VCEK failure is a chain failure.
    code = Code.V3_QUOTE_CHAIN if chain_phase else _CODES.get(exc.code, default)
    if code.value.startswith("V3_POLICY_"):  # VCEK TCB/HWID vs the report: the policy layer
        return PolicyError(code, f"{exc.code.value}: {exc.message}")
    return HardwareError(code, f"{exc.code.value}: {exc.message}")


def _collateral(doc: Document) -> tuple[bytes, str, x509.CertificateRevocationList]:
    vcek_entry = doc.find(ROLE_ENDORSEMENT, COLL_AMD_VCEK, subject=CPU_SUBJECT)
    crl_entry = doc.find(ROLE_ENDORSEMENT, COLL_AMD_CRL, subject=CPU_SUBJECT)
    if vcek_entry is None or crl_entry is None:
        raise _quote(Code.V3_QUOTE_COLLATERAL_MISSING, "no amd-vcek or amd-crl entry for cpu")
    vcek_data, crl_data = vcek_entry.data, crl_entry.data
    if set(vcek_data) != {"vcek_der_base64", "cert_chain_pem"} or set(crl_data) != {
        "crl_der_base64"
    }:
        raise _quote(Code.V3_QUOTE_COLLATERAL_MISSING, "AMD collateral members are wrong")
    b64 = (vcek_data["vcek_der_base64"], crl_data["crl_der_base64"])
    chain_pem = vcek_data["cert_chain_pem"]
    if not all(isinstance(v, str) and v for v in (*b64, chain_pem)):
        raise _quote(Code.V3_QUOTE_COLLATERAL_MISSING, "empty VCEK, chain or CRL")
    if not _PEM_PAIR.fullmatch(chain_pem):
        raise _quote(Code.V3_QUOTE_COLLATERAL_MISSING, "cert_chain_pem is not exactly two PEMs")
    vcek_der = canonical_b64(b64[0], "vcek_der_base64", Code.V3_QUOTE_COLLATERAL_MISSING)
    crl_der = canonical_b64(b64[1], "crl_der_base64", Code.V3_QUOTE_COLLATERAL_MISSING)
    try:
        crl = x509.load_der_x509_crl(crl_der)
    except ValueError as exc:
        raise _quote(Code.V3_QUOTE_COLLATERAL_MISSING, "AMD CRL is not DER") from exc
    return vcek_der, chain_pem, crl


@functools.lru_cache(maxsize=4)
def _pinned_chain(pem: str) -> AmdChain:
    """The carried ASK/ARK if both match the in-code pins (a pure check of the bytes, so a
    success is cached: every document from a machine carries the same pair)."""
    return check_pins(parse_chain_pem(pem.encode("ascii")))


def _chain(trust: AmdTrust, product: Product, carried_pem: str) -> AmdChain:
    try:
        if product in trust.products():
            return trust.chain_for(product)
        if not trust.pinned:
            return trust.chain_for(product)  # raises: test trust never falls back
        return _pinned_chain(carried_pem)
    except AttestationError as exc:
        raise _mapped(exc, Code.V3_QUOTE_CHAIN) from exc


def _check_crl(
    crl: x509.CertificateRevocationList, chain: AmdChain, vcek: x509.Certificate, now: dt.datetime
) -> None:
    next_update = crl.next_update_utc
    if next_update is None or not crl.last_update_utc <= now <= next_update:
        raise _quote(
            Code.V3_QUOTE_CRL_WINDOW,
            f"AMD CRL valid {crl.last_update_utc:%FT%TZ}..{next_update or 'never'},"
            f" not at {now:%FT%TZ}",
        )
    try:
        points = chain.ask.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        usage = chain.ark.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound as exc:
        raise _quote(Code.V3_QUOTE_CHAIN, "ASK has no CRL point or ARK no key usage") from exc
    urls = [
        str(name.value)
        for point in points
        for name in point.full_name or ()
        if isinstance(name, x509.UniformResourceIdentifier)
    ]
    if not any(url.endswith("/crl") for url in urls) or not usage.crl_sign:
        raise _quote(Code.V3_QUOTE_CHAIN, "ASK CRL distribution point or ARK cRLSign missing")
    ark_key = chain.ark.public_key()
    if not isinstance(ark_key, rsa.RSAPublicKey):
        raise _quote(Code.V3_QUOTE_CHAIN, "ARK key is not RSA")
    if crl.issuer != chain.ark.subject or not crl.is_signature_valid(ark_key):
        raise _quote(Code.V3_QUOTE_CHAIN, "AMD CRL is not signed by the trusted ARK")
    for cert, what in ((chain.ask, "ASK"), (vcek, "VCEK")):
        if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
            raise _quote(Code.V3_QUOTE_REVOKED, f"{what} is revoked by the AMD CRL")


def authenticate_sev(doc: Document, *, trust: AmdTrust, now: dt.datetime) -> AuthenticatedSev:
    """Authenticate the document's SEV-SNP report at ``now``; raises V3_QUOTE_* codes."""
    vcek_der, chain_pem, crl = _collateral(doc)
    try:
        report = parse_report(doc.cpu_report)
    except AttestationError as exc:
        raise _mapped(exc, Code.V3_QUOTE_REPORT_FORMAT) from exc
    if report.version < 3 or report.product not in _V3_PRODUCTS:
        raise _quote(Code.V3_QUOTE_REPORT_FORMAT, "v3 needs a Genoa or Turin report, version 3+")
    if report.signing_key != SIGNING_KEY_VCEK or report.mask_chip_key:
        raise _quote(Code.V3_QUOTE_SIGNER, "report is not signed by an unmasked VCEK")
    chain = _chain(trust, report.product, chain_pem)
    try:
        vcek = load_vcek(vcek_der)
    except AttestationError as exc:
        raise _mapped(exc, Code.V3_QUOTE_VCEK_INVALID) from exc
    try:
        verify_vcek_chain(vcek, chain, now=now)
    except AttestationError as exc:
        raise _mapped(exc, Code.V3_QUOTE_CHAIN, chain_phase=True) from exc
    _check_crl(crl, chain, vcek, now)
    try:
        verify_report_signature(report, vcek)
        extensions = check_vcek_matches_report(vcek, report)
    except AttestationError as exc:
        raise _mapped(exc, Code.V3_QUOTE_VCEK_INVALID) from exc
    return AuthenticatedSev(report=report, vcek=vcek, vcek_extensions=extensions)


__all__ = ["AuthenticatedSev", "authenticate_sev"]
