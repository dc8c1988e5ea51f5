"""Intel certificate chains and the PCK SGX extension (docs/attestation.md V3.2 steps 1 and 5).

`cryptography`'s PolicyBuilder enforces a WebPKI profile and has no CRLs, so the chain walk is
by hand, as in the reference: pinned root key, validity at the injected time, CA flags, and
each signature by the next certificate.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier

from attestation.errors import Code, HardwareError
from attestation.tdx.models import PckCa
from attestation.tdx.trust import IntelTrust
from attestation.x509ext import raw_extension

SGX_EXTENSION_OID = ObjectIdentifier("1.2.840.113741.1.13.1")
_SGX = "1.2.840.113741.1.13.1"
PLATFORM_CA_CN = "Intel SGX PCK Platform CA"
PROCESSOR_CA_CN = "Intel SGX PCK Processor CA"
TCB_SIGNING_CN = "Intel SGX TCB Signing"


@dataclass(frozen=True, slots=True)
class ChainCodes:
    """Which code each kind of chain failure maps to, per chain (PCK chain vs collateral)."""

    invalid: Code
    untrusted_root: Code
    expired: Code
    incomplete: Code


PCK_CHAIN_CODES = ChainCodes(
    invalid=Code.PCK_CHAIN_INVALID,
    untrusted_root=Code.ROOT_CA_UNTRUSTED,
    expired=Code.PCK_EXPIRED,
    incomplete=Code.PCK_CHAIN_INCOMPLETE,
)


def common_name(name: x509.Name) -> str:
    """The first CN of a name, or "" (names were decoded when the chain was loaded)."""
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else ""


def _decode_fully(cert: x509.Certificate) -> None:
    """Decode every part `cryptography` parses lazily, so a malformed one fails here.

    The library defers decoding the key, names and extensions to first access, where it
    raises ValueError or UnsupportedAlgorithm; touching them once at load time turns any of
    those into this chain's code instead of a bare library exception later.
    """
    cert.public_key()
    _ = cert.subject, cert.issuer, cert.extensions
    _ = cert.not_valid_before_utc, cert.not_valid_after_utc, cert.signature_hash_algorithm


def load_pem_chain(pem: bytes, codes: ChainCodes) -> list[x509.Certificate]:
    """Parse concatenated PEM certificates; an unparsable or malformed one is an invalid chain."""
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise HardwareError(codes.incomplete, "no PEM certificate in chain")
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise HardwareError(codes.invalid, f"certificate chain does not parse: {exc}") from exc
    for index, cert in enumerate(certs):
        try:
            _decode_fully(cert)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise HardwareError(
                codes.invalid, f"certificate {index} of the chain is malformed: {exc}"
            ) from exc
    return certs


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """ECDSA-SHA256 signature of `cert` by `issuer`'s key, with matching names."""
    if not isinstance(issuer.public_key(), ec.EllipticCurvePublicKey):
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return bc.ca


def verify_chain(
    certs: list[x509.Certificate],
    *,
    length: int,
    trust: IntelTrust,
    now: dt.datetime,
    codes: ChainCodes,
) -> None:
    """Check a leaf-first chain ending in the pinned Intel root (V3.2 step 1, in its order)."""
    if len(certs) < length:
        raise HardwareError(codes.incomplete, f"chain has {len(certs)} certificates, need {length}")
    if len(certs) > length:
        raise HardwareError(codes.invalid, f"chain has {len(certs)} certificates, need {length}")
    root = certs[-1]
    if not trust.is_trusted_root(root):
        raise HardwareError(codes.untrusted_root, "chain root is not the pinned Intel SGX Root CA")
    for cert in certs:
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            name = cert.subject.rfc4514_string()
            raise HardwareError(codes.expired, f"certificate {name} is not valid at {now}")
    for cert in certs[1:]:
        if not _is_ca(cert):
            raise HardwareError(codes.invalid, f"{cert.subject.rfc4514_string()} is not a CA")
    for cert, issuer in itertools.pairwise(certs):
        if not _signed_by(cert, issuer):
            name = cert.subject.rfc4514_string()
            raise HardwareError(codes.invalid, f"signature on {name} does not verify")
    if not _signed_by(root, root):
        raise HardwareError(codes.invalid, "Intel root self-signature does not verify")


def pck_ca_of(leaf: x509.Certificate) -> PckCa:
    """Which PCK CA issued the leaf, from the issuer CN (selects the PCK CRL, V3.2 step 5)."""
    cn = common_name(leaf.issuer)
    if cn == PLATFORM_CA_CN:
        return PckCa.PLATFORM
    if cn == PROCESSOR_CA_CN:
        return PckCa.PROCESSOR
    raise HardwareError(Code.PCK_CHAIN_INVALID, f"PCK leaf issuer {cn!r} is not an Intel PCK CA")


# --- PCK SGX extension (a SEQUENCE of SEQUENCE{OID, value}; DER, parsed by hand) -------------


@dataclass(frozen=True, slots=True)
class PckExtensions:
    """The fields of the PCK leaf's SGX extension that TCB evaluation needs."""

    fmspc: bytes  # 6 bytes
    pce_id: bytes  # 2 bytes
    pce_svn: int
    cpu_svn: bytes  # 16 bytes
    sgx_tcb_components: tuple[int, ...]  # 16 SVNs
    ppid: bytes = b""  # 16 bytes when present: the platform identity v3 endorsements key on


def _tlv(data: bytes, pos: int) -> tuple[int, bytes, int]:
    """One DER TLV at `pos`: (tag, value, next position). Definite lengths only."""
    if pos + 2 > len(data):
        raise ValueError("truncated TLV")
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4 or pos + n > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    if pos + length > len(data):
        raise ValueError("DER value overruns its container")
    return tag, data[pos : pos + length], pos + length


def _items(data: bytes) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data):
        tag, value, pos = _tlv(data, pos)
        out.append((tag, value))
    return out


def _oid(value: bytes) -> str:
    """Decode a DER OBJECT IDENTIFIER body to dotted form."""
    if not value:
        raise ValueError("empty OID")
    arcs = [value[0] // 40, value[0] % 40]
    acc = 0
    for byte in value[1:]:
        acc = (acc << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(acc)
            acc = 0
    return ".".join(map(str, arcs))


def _int(value: bytes) -> int:
    return int.from_bytes(value, "big", signed=False)


def _oid_map(seq_body: bytes) -> dict[str, tuple[int, bytes]]:
    """SEQUENCE OF SEQUENCE{OID, value} → {oid: (tag, value)}; duplicates are rejected."""
    out: dict[str, tuple[int, bytes]] = {}
    for tag, body in _items(seq_body):
        if tag != 0x30:
            raise ValueError("SGX extension entry is not a SEQUENCE")
        inner = _items(body)
        if len(inner) != 2 or inner[0][0] != 0x06:
            raise ValueError("SGX extension entry is not (OID, value)")
        oid = _oid(inner[0][1])
        if oid in out:
            raise ValueError(f"duplicate SGX extension entry {oid}")
        out[oid] = inner[1]
    return out


def parse_pck_extensions(leaf: x509.Certificate) -> PckExtensions:
    """Decode FMSPC, PCEID, PCESVN, CPUSVN and the 16 SGX TCB components of the PCK leaf."""
    try:
        raw = raw_extension(leaf, SGX_EXTENSION_OID)
        if raw is None:
            raise ValueError("PCK leaf has no SGX extension")
        tag, body, end = _tlv(raw, 0)
        if tag != 0x30 or end != len(raw):
            raise ValueError("SGX extension is not one SEQUENCE")
        top = _oid_map(body)
        tcb_tag, tcb_body = top[f"{_SGX}.2"]
        if tcb_tag != 0x30:
            raise ValueError("SGX TCB entry is not a SEQUENCE")
        tcb = _oid_map(tcb_body)
        components = tuple(_int(tcb[f"{_SGX}.2.{i}"][1]) for i in range(1, 17))
        fmspc, pce_id, cpu_svn = top[f"{_SGX}.4"][1], top[f"{_SGX}.3"][1], tcb[f"{_SGX}.2.18"][1]
        if len(fmspc) != 6 or len(pce_id) != 2 or len(cpu_svn) != 16:
            raise ValueError("SGX extension field of wrong size")
        ppid = top[f"{_SGX}.1"][1] if f"{_SGX}.1" in top else b""
        return PckExtensions(
            fmspc=fmspc,
            pce_id=pce_id,
            pce_svn=_int(tcb[f"{_SGX}.2.17"][1]),
            cpu_svn=cpu_svn,
            sgx_tcb_components=components,
            ppid=ppid,
        )
    except (KeyError, ValueError) as exc:  # UndecodableExtensionError is a ValueError
        raise HardwareError(Code.PCK_CHAIN_INVALID, f"PCK SGX extension invalid: {exc}") from exc


__all__ = [
    "PCK_CHAIN_CODES",
    "ChainCodes",
    "PckExtensions",
    "common_name",
    "load_pem_chain",
    "parse_pck_extensions",
    "pck_ca_of",
    "verify_chain",
]
