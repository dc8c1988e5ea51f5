"""A synthetic Intel PKI, TDX quote and PCS collateral for mutation tests (test helper).

Everything is generated here with fresh keys: a root standing in for the Intel SGX Root CA, a
PCK Platform CA, a PCK leaf carrying a hand-encoded SGX extension, a TCB signing certificate,
a v4 quote whose QE report and signatures are real, and TCB Info / QE Identity / CRLs signed
as Intel PCS signs them. Tests trust the root via `IntelTrust.from_root_pem`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from attestation.tdx import IntelTrust, PckCa, TdxCollateral
from attestation.tdx.policy import INTEL_QE_VENDOR_ID
from attestation.tdx.policy_data import production_table

NOW = dt.datetime(2026, 1, 15, tzinfo=dt.UTC)
FMSPC = bytes.fromhex("90c06f000000")
SGX_COMPONENTS = (3, 3, 2, 2, 4, 1, 0, 5) + (0,) * 8
PCE_SVN = 13
TEE_TCB_SVN = bytes([5, 1, 3]) + bytes(13)  # module SVN 5, module major 1 (TDX_01), [2] = 3
QE_MRSIGNER = bytes.fromhex("dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5")
_SGX = "1.2.840.113741.1.13.1"


def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def _oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        while arc > 0x7F:
            arc >>= 7
            chunk.append(0x80 | (arc & 0x7F))
        out += bytes(reversed(chunk))
    return _der(0x06, bytes(out))


def _entry(oid: str, value: bytes) -> bytes:
    return _der(0x30, _oid(oid) + value)


def _int(v: int) -> bytes:
    return _der(0x02, v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big"))


def sgx_extension(fmspc: bytes = FMSPC, components: tuple[int, ...] = SGX_COMPONENTS) -> bytes:
    """DER of the PCK SGX extension (PPID, TCB, PCEID, FMSPC, SGX type)."""
    tcb = b"".join(_entry(f"{_SGX}.2.{i + 1}", _int(c)) for i, c in enumerate(components))
    tcb += _entry(f"{_SGX}.2.17", _int(PCE_SVN))
    tcb += _entry(f"{_SGX}.2.18", _der(0x04, bytes(components)))
    return _der(
        0x30,
        _entry(f"{_SGX}.1", _der(0x04, b"\x07" * 16))
        + _entry(f"{_SGX}.2", _der(0x30, tcb))
        + _entry(f"{_SGX}.3", _der(0x04, b"\x00\x00"))
        + _entry(f"{_SGX}.4", _der(0x04, fmspc))
        + _entry(f"{_SGX}.5", _der(0x0A, b"\x00")),
    )


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_cert(
    cn: str,
    key: ec.EllipticCurvePrivateKey,
    issuer_cn: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    serial: int,
    extension: bytes | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(issuer_cn))
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2040, 1, 1, tzinfo=dt.UTC))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if extension is not None:
        oid = x509.ObjectIdentifier(_SGX)
        builder = builder.add_extension(x509.UnrecognizedExtension(oid, extension), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def raw_sign(key: ec.EllipticCurvePrivateKey, message: bytes) -> bytes:
    """r ‖ s, 32 bytes each (a non-P-256 key's values are truncated to keep the v4 layout)."""
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    return (r % 2**256).to_bytes(32, "big") + (s % 2**256).to_bytes(32, "big")


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(Encoding.PEM) for c in certs)


ROOT_CN = "Test SGX Root CA"
PLATFORM_CN = "Intel SGX PCK Platform CA"


@dataclass
class Pki:
    """Keys and certificates; regenerate a leaf with `make_cert` to mutate the chain."""

    root_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    ca_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    pck_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    tcb_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    ak: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    def __post_init__(self) -> None:
        self.root = make_cert(ROOT_CN, self.root_key, ROOT_CN, self.root_key, ca=True, serial=1)
        self.ca = make_cert(PLATFORM_CN, self.ca_key, ROOT_CN, self.root_key, ca=True, serial=2)
        self.leaf = make_cert(
            "Intel SGX PCK Certificate",
            self.pck_key,
            PLATFORM_CN,
            self.ca_key,
            ca=False,
            serial=3,
            extension=sgx_extension(),
        )
        self.tcb_cert = make_cert(
            "Intel SGX TCB Signing", self.tcb_key, ROOT_CN, self.root_key, ca=False, serial=4
        )
        self.chain: list[x509.Certificate] = [self.leaf, self.ca, self.root]

    def trust(self) -> IntelTrust:
        return IntelTrust.from_root_pem(pem(self.root))


def body_fields() -> dict[str, bytes]:
    """A Tinfoil-production-conformant TD quote body (docs/attestation.md V3.4 pins)."""
    return {
        "tee_tcb_svn": TEE_TCB_SVN,
        "mr_seam": production_table().mr_seam("2.0.08"),
        "mr_signer_seam": bytes(48),
        "seam_attributes": bytes(8),
        "td_attributes": bytes.fromhex("0000001000000000"),
        "xfam": bytes.fromhex("e702060000000000"),
        "mr_td": b"\x11" * 48,
        "mr_config_id": bytes(48),
        "mr_owner": bytes(48),
        "mr_owner_config": bytes(48),
        "rtmrs": b"\x22" * 48 + b"\x33" * 48 + b"\x44" * 48 + bytes(48),
        "report_data": b"\x55" * 64,
    }


def build_quote(
    pki: Pki,
    *,
    body: dict[str, bytes] | None = None,
    qe_mr_signer: bytes = QE_MRSIGNER,
    qe_isv_prod_id: int = 2,
    qe_isv_svn: int = 4,
    qe_attributes: bytes = b"\x11" + bytes(15),
    cert_type: int = 6,
) -> bytes:
    fields = body_fields() | (body or {})
    header = struct.pack("<HHI", 4, 2, 0x81) + bytes(4) + INTEL_QE_VENDOR_ID + bytes(20)
    td_body = b"".join(fields[k] for k in body_fields())
    assert len(td_body) == 584
    ak_raw = pki.ak.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)[1:]
    auth = b"\x01" * 32
    report = bytearray(384)
    report[0x30:0x40] = qe_attributes
    report[0x80:0xA0] = qe_mr_signer
    report[0x100:0x104] = struct.pack("<HH", qe_isv_prod_id, qe_isv_svn)
    report[0x140:0x180] = hashlib.sha256(ak_raw + auth).digest() + bytes(32)
    chain = pem(*pki.chain)
    qe_data = (
        bytes(report)
        + raw_sign(pki.pck_key, bytes(report))
        + struct.pack("<H", len(auth))
        + auth
        + struct.pack("<HI", 5, len(chain))
        + chain
    )
    signed = (
        raw_sign(pki.ak, header + td_body)
        + ak_raw
        + struct.pack("<HI", cert_type, len(qe_data))
        + qe_data
    )
    return header + td_body + struct.pack("<I", len(signed)) + signed


Mutator = Callable[[dict[str, Any]], None]


def _signed_json(key: ec.EllipticCurvePrivateKey, name: str, inner: dict[str, Any]) -> str:
    text = json.dumps(inner, separators=(",", ":"))
    return f'{{"{name}":{text},"signature":"{raw_sign(key, text.encode()).hex()}"}}'


def _level(svn: int, status: str) -> dict[str, Any]:
    return {"tcb": {"isvsvn": svn}, "tcbDate": "2025-01-01T00:00:00Z", "tcbStatus": status}


def tcb_info_body() -> dict[str, Any]:
    tdx = [3, 0, 3] + [0] * 13
    return {
        "id": "TDX",
        "version": 3,
        "issueDate": "2026-01-01T00:00:00Z",
        "nextUpdate": "2026-02-01T00:00:00Z",
        "fmspc": FMSPC.hex(),
        "pceId": "0000",
        "tcbType": 0,
        "tcbEvaluationDataNumber": 19,
        "tdxModule": {"mrsigner": "00" * 48, "attributes": "00" * 8, "attributesMask": "FF" * 8},
        "tdxModuleIdentities": [
            {
                "id": "TDX_01",
                "mrsigner": "00" * 48,
                "attributes": "00" * 8,
                "attributesMask": "FF" * 8,
                "tcbLevels": [_level(5, "UpToDate"), _level(2, "OutOfDate")],
            },
        ],
        "tcbLevels": [
            {
                "tcb": {
                    "sgxtcbcomponents": [{"svn": s} for s in SGX_COMPONENTS],
                    "pcesvn": PCE_SVN,
                    "tdxtcbcomponents": [{"svn": s} for s in tdx],
                },
                "tcbDate": "2025-01-01T00:00:00Z",
                "tcbStatus": "UpToDate",
            },
        ],
    }


def qe_identity_body() -> dict[str, Any]:
    return {
        "id": "TD_QE",
        "version": 2,
        "issueDate": "2026-01-01T00:00:00Z",
        "nextUpdate": "2026-02-01T00:00:00Z",
        "tcbEvaluationDataNumber": 19,
        "miscselect": "00000000",
        "miscselectMask": "FFFFFFFF",
        "attributes": "11" + "00" * 15,
        "attributesMask": "FBFFFFFFFFFFFFFF" + "00" * 8,
        "mrsigner": QE_MRSIGNER.hex().upper(),
        "isvprodid": 2,
        "tcbLevels": [_level(4, "UpToDate")],
    }


CRL_THIS_UPDATE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def crl(
    issuer_cn: str,
    key: ec.EllipticCurvePrivateKey,
    revoked: tuple[int, ...] = (),
    this_update: dt.datetime = CRL_THIS_UPDATE,
    *,
    extensions: bool = True,
) -> bytes:
    """A CRL as Intel issues them: with a CRL Number and the issuer's key identifier."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(_name(issuer_cn))
        .last_update(this_update)
        .next_update(dt.datetime(2026, 2, 1, tzinfo=dt.UTC))
    )
    if extensions:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key())
        builder = builder.add_extension(x509.CRLNumber(1), critical=False)
        builder = builder.add_extension(aki, critical=False)
    for serial in revoked:
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(NOW)
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.DER)


def build_collateral(
    pki: Pki,
    *,
    tcb: Mutator | None = None,
    qe: Mutator | None = None,
    pck_revoked: tuple[int, ...] = (),
    root_revoked: tuple[int, ...] = (),
) -> TdxCollateral:
    tcb_body, qe_body = tcb_info_body(), qe_identity_body()
    if tcb is not None:
        tcb(tcb_body)
    if qe is not None:
        qe(qe_body)
    chain = pem(pki.tcb_cert, pki.root).decode()
    return TdxCollateral(
        tcb_info_json=_signed_json(pki.tcb_key, "tcbInfo", tcb_body),
        qe_identity_json=_signed_json(pki.tcb_key, "enclaveIdentity", qe_body),
        pck_crl=crl(PLATFORM_CN, pki.ca_key, pck_revoked),
        root_crl=crl(ROOT_CN, pki.root_key, root_revoked),
        tcb_info_issuer_chain=chain,
        qe_identity_issuer_chain=chain,
        pck_crl_issuer_chain=pem(pki.ca, pki.root).decode(),
        pck_crl_ca=PckCa.PLATFORM,
    )
