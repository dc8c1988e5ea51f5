"""ARK → ASK → VCEK certificate chain, VCEK format and KDS extensions (docs/attestation.md V2.2).

:func:`verify_vcek_chain` proves that a VCEK was issued by the trusted ASK of the report's
product and is valid at ``now`` (ARK and ASK validity too), and checks the VCEK's format.
:func:`check_vcek_matches_report` cross-checks the VCEK's TCB and HWID extensions against the
report (V2.2).

Does **not** check: the report signature (``verify.py``) or report policy (``validate.py``).
No I/O: the VCEK comes from the bundle, the ARK/ASK from :class:`~attestation.sev.roots.AmdTrust`.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID

from attestation.errors import Code, HardwareError
from attestation.sev.abi import Product, SevReport, TcbVersion
from attestation.sev.roots import AmdChain
from attestation.x509ext import UndecodableExtensionError, raw_extension

_AMD_OID: Final = "1.3.6.1.4.1.3704.1"
OID_STRUCT_VERSION: Final = x509.ObjectIdentifier(f"{_AMD_OID}.1")
OID_PRODUCT_NAME: Final = x509.ObjectIdentifier(f"{_AMD_OID}.2")
OID_BL_SPL: Final = x509.ObjectIdentifier(f"{_AMD_OID}.3.1")
OID_TEE_SPL: Final = x509.ObjectIdentifier(f"{_AMD_OID}.3.2")
OID_SNP_SPL: Final = x509.ObjectIdentifier(f"{_AMD_OID}.3.3")
OID_UCODE_SPL: Final = x509.ObjectIdentifier(f"{_AMD_OID}.3.8")
OID_FMC_SPL: Final = x509.ObjectIdentifier(f"{_AMD_OID}.3.9")
OID_HWID: Final = x509.ObjectIdentifier(f"{_AMD_OID}.4")
OID_CSP_ID: Final = x509.ObjectIdentifier(f"{_AMD_OID}.5")  # present only on a VLEK

HWID_SIZE: Final[dict[Product, int]] = {Product.MILAN: 64, Product.GENOA: 64, Product.TURIN: 8}

# Subject/issuer attributes every AMD certificate carries (V2.2 step 3).
_AMD_DN: Final = {
    NameOID.ORGANIZATION_NAME: "Advanced Micro Devices",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "Engineering",
    NameOID.LOCALITY_NAME: "Santa Clara",
    NameOID.STATE_OR_PROVINCE_NAME: "CA",
    NameOID.COUNTRY_NAME: "US",
}


@dataclass(frozen=True, slots=True)
class VcekExtensions:
    """Decoded AMD KDS extensions of a VCEK."""

    product_name: str | None  # None when the extension is absent (then rejected)
    tcb: dict[str, int]
    hwid: bytes | None


def load_vcek(der: bytes) -> x509.Certificate:
    """Parse the DER VCEK. A parse failure is a broken chain (VCEK_CHAIN_INVALID)."""
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise HardwareError(Code.VCEK_CHAIN_INVALID, "VCEK is not a DER certificate") from exc


def _check_validity(cert: x509.Certificate, now: dt.datetime, code: Code, what: str) -> None:
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise HardwareError(
            code,
            f"{what} valid {cert.not_valid_before_utc:%Y-%m-%d}.."
            f"{cert.not_valid_after_utc:%Y-%m-%d},"
            f" not at {now:%Y-%m-%d}",
        )


def _check_dn(name: x509.Name, cn: str, what: str) -> None:
    expected = {**_AMD_DN, NameOID.COMMON_NAME: cn}
    for oid, value in expected.items():
        attrs = name.get_attributes_for_oid(oid)
        if len(attrs) != 1 or attrs[0].value != value:
            raise HardwareError(
                Code.VCEK_CHAIN_INVALID, f"{what} {oid.dotted_string} is not {value!r}"
            )


def verify_vcek_chain(vcek: x509.Certificate, chain: AmdChain, *, now: dt.datetime) -> None:
    """Raise unless ARK → ASK → VCEK holds at ``now`` and the VCEK has the AMD format."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    # The ARK self-signature and ASK issuance were proved when the AmdTrust was built
    # (roots.py); only their validity at `now` remains.
    _check_validity(chain.ark, now, Code.ARK_UNTRUSTED, f"ARK-{chain.product}")
    _check_validity(chain.ask, now, Code.ASK_INVALID, f"SEV-{chain.product}")
    try:
        vcek.verify_directly_issued_by(chain.ask)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise HardwareError(
            Code.VCEK_CHAIN_INVALID, f"VCEK is not signed by SEV-{chain.product}"
        ) from exc
    _check_validity(vcek, now, Code.VCEK_EXPIRED, "VCEK")
    # Format (reference `_validate_vcek_format`): X.509 v3, RSASSA-PSS, P-384 key, AMD DNs.
    if vcek.version is not x509.Version.v3:
        raise HardwareError(Code.VCEK_CHAIN_INVALID, "VCEK is not X.509 v3")
    if vcek.signature_algorithm_oid != SignatureAlgorithmOID.RSASSA_PSS:
        raise HardwareError(Code.VCEK_CHAIN_INVALID, "VCEK is not signed with RSASSA-PSS")
    key = vcek.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP384R1):
        raise HardwareError(Code.VCEK_CHAIN_INVALID, "VCEK key is not ECDSA P-384")
    _check_dn(vcek.subject, "SEV-VCEK", "VCEK subject")
    _check_dn(vcek.issuer, f"SEV-{chain.product}", "VCEK issuer")


def _der_tlv(data: bytes, tag: int) -> bytes:
    """The value of a single DER TLV with ``tag`` spanning all of ``data`` (no trailing bytes)."""
    if len(data) < 2 or data[0] != tag:
        raise ValueError("unexpected DER tag")
    length = data[1]
    offset = 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 2 or len(data) < 2 + n:
            raise ValueError("bad DER length")
        length = int.from_bytes(data[2 : 2 + n], "big")
        offset = 2 + n
    if offset + length != len(data):
        raise ValueError("DER length does not cover the value exactly")
    return data[offset:]


def _der_small_int(data: bytes) -> int:
    value = _der_tlv(data, 0x02)
    if not 1 <= len(value) <= 2 or value[0] & 0x80:
        raise ValueError("not a small non-negative INTEGER")
    n = int.from_bytes(value, "big")
    if n > 255:
        raise ValueError("SPL out of range")
    return n


def _raw_extension(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> bytes | None:
    try:
        return raw_extension(cert, oid)
    except UndecodableExtensionError as exc:
        raise HardwareError(
            Code.VCEK_CHAIN_INVALID, f"VCEK extension {oid.dotted_string} unexpected"
        ) from exc


def decode_vcek_extensions(vcek: x509.Certificate, product: Product) -> VcekExtensions:
    """Decode product name, TCB SPLs and HWID from the KDS extensions (V2.2 step 4)."""
    try:
        raw_name = _raw_extension(vcek, OID_PRODUCT_NAME)
        name = _der_tlv(raw_name, 0x16).decode("ascii") if raw_name is not None else None
        oids = {"bl_spl": OID_BL_SPL, "tee_spl": OID_TEE_SPL, "snp_spl": OID_SNP_SPL}
        oids["ucode_spl"] = OID_UCODE_SPL
        if product is Product.TURIN:
            oids["fmc_spl"] = OID_FMC_SPL
        tcb: dict[str, int] = {}
        for key, oid in oids.items():
            raw = _raw_extension(vcek, oid)
            if raw is None:
                raise HardwareError(Code.VCEK_TCB_MISMATCH, f"VCEK lacks the {key} extension")
            tcb[key] = _der_small_int(raw)
        hwid = _raw_extension(vcek, OID_HWID)
        if hwid is not None and len(hwid) != HWID_SIZE[product]:
            # KDS stores the HWID either raw or wrapped in an OCTET STRING (V2.2 step 4).
            hwid = _der_tlv(hwid, 0x04)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HardwareError(Code.VCEK_CHAIN_INVALID, "VCEK extension is not valid DER") from exc
    return VcekExtensions(product_name=name, tcb=tcb, hwid=hwid)


def check_vcek_matches_report(vcek: x509.Certificate, report: SevReport) -> VcekExtensions:
    """Raise unless the VCEK is a VCEK for this product, TCB and chip (V2.2)."""
    if _raw_extension(vcek, OID_CSP_ID) is not None:
        raise HardwareError(Code.VCEK_CHAIN_INVALID, "certificate has CSP_ID: it is a VLEK")
    ext = decode_vcek_extensions(vcek, report.product)
    if ext.product_name != report.product.value:
        raise HardwareError(
            Code.VCEK_CHAIN_INVALID, f"VCEK is for {ext.product_name}, report is {report.product}"
        )
    reported: TcbVersion = report.reported_tcb
    for key, value in reported.components().items():
        if ext.tcb.get(key) != value:
            raise HardwareError(
                Code.VCEK_TCB_MISMATCH,
                f"VCEK {key}={ext.tcb.get(key)} but the report's REPORTED_TCB has {value}",
            )
    if ext.hwid is None:
        raise HardwareError(Code.VCEK_HWID_MISMATCH, "VCEK has no HWID extension")
    chip_id = report.chip_id[: HWID_SIZE[report.product]]
    if not hmac.compare_digest(ext.hwid, chip_id):
        raise HardwareError(Code.VCEK_HWID_MISMATCH, "VCEK HWID differs from the report's CHIP_ID")
    return ext


__all__ = [
    "VcekExtensions",
    "check_vcek_matches_report",
    "decode_vcek_extensions",
    "load_vcek",
    "verify_vcek_chain",
]
