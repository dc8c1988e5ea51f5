"""Byte layout of an Intel TDX quote v4 (docs/attestation.md V3.1). Pure parsing, no crypto.

Every length is checked against the bytes present: a short quote gives QUOTE_TRUNCATED, a
declared size that disagrees with the bytes gives QUOTE_FORMAT_UNSUPPORTED (or TRUNCATED when
it points past the end), an unsupported header value gives its own code.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from attestation.errors import Code, HardwareError

QUOTE_VERSION_4 = 4
ATTESTATION_KEY_TYPE_ECDSA_P256 = 2
TEE_TYPE_TDX = 0x00000081
CERT_DATA_QE_REPORT = 6  # QE report certification data (V3.1)
CERT_DATA_PCK_CHAIN = 5  # PCK certificate chain, PEM

HEADER_SIZE = 0x30
BODY_SIZE = 584
SIGNED_END = HEADER_SIZE + BODY_SIZE  # 0x278: the quote signature covers header ‖ body
MIN_QUOTE_SIZE = 0x3FC
QE_REPORT_SIZE = 384
MAX_QUOTE_SIZE = 64 * 1024  # real quotes are ~5 KiB; bounds the PEM parsing that follows


@dataclass(frozen=True, slots=True)
class QuoteHeader:
    """The 48-byte quote header."""

    version: int
    attestation_key_type: int
    tee_type: int
    qe_vendor_id: bytes
    user_data: bytes


@dataclass(frozen=True, slots=True)
class TdQuoteBody:
    """The 584-byte TD quote body (TDREPORT 1.0 fields)."""

    tee_tcb_svn: bytes
    mr_seam: bytes
    mr_signer_seam: bytes
    seam_attributes: bytes
    td_attributes: bytes
    xfam: bytes
    mr_td: bytes
    mr_config_id: bytes
    mr_owner: bytes
    mr_owner_config: bytes
    rtmrs: tuple[bytes, bytes, bytes, bytes]
    report_data: bytes


@dataclass(frozen=True, slots=True)
class QeReport:
    """The 384-byte SGX report of the Quoting Enclave; ``raw`` is what the PCK key signed."""

    raw: bytes
    cpu_svn: bytes
    misc_select: bytes  # 4 bytes as laid out in the report
    attributes: bytes
    mr_enclave: bytes
    mr_signer: bytes
    isv_prod_id: int
    isv_svn: int
    report_data: bytes


@dataclass(frozen=True, slots=True)
class TdxQuote:
    """A parsed TDX v4 quote with type-6 certification data."""

    header: QuoteHeader
    body: TdQuoteBody
    signed_bytes: bytes  # quote[0x00:0x278]
    signature: bytes  # r ‖ s, 64 bytes big-endian
    attestation_key: bytes  # X ‖ Y, 64 bytes
    qe_report: QeReport
    qe_report_signature: bytes  # r ‖ s
    qe_auth_data: bytes
    pck_chain_pem: bytes  # leaf ‖ intermediate ‖ root, trailing NULs stripped


def _fail(code: Code, message: str) -> HardwareError:
    return HardwareError(code, message)


def parse_header(raw: bytes) -> QuoteHeader:
    """Parse and check the header: v4, ECDSA P-256 attestation key, TDX TEE type."""
    if len(raw) < HEADER_SIZE:
        raise _fail(Code.QUOTE_TRUNCATED, f"quote has {len(raw)} bytes, header needs {HEADER_SIZE}")
    version, ak_type, tee_type = struct.unpack_from("<HHI", raw, 0)
    header = QuoteHeader(version, ak_type, tee_type, raw[12:28], raw[28:48])
    if version != QUOTE_VERSION_4:
        raise _fail(Code.QUOTE_FORMAT_UNSUPPORTED, f"quote version {version}, only 4 is supported")
    if ak_type != ATTESTATION_KEY_TYPE_ECDSA_P256:
        raise _fail(
            Code.ATTESTATION_KEY_TYPE_UNSUPPORTED,
            f"attestation key type {ak_type}, only 2 (ECDSA P-256) is supported",
        )
    if tee_type != TEE_TYPE_TDX:
        raise _fail(Code.WRONG_TEE_TYPE, f"TEE type {tee_type:#x} is not TDX (0x81)")
    return header


def parse_body(raw: bytes) -> TdQuoteBody:
    """Parse the 584-byte TD quote body (offsets relative to 0x30, V3.1)."""
    b = raw[HEADER_SIZE:SIGNED_END]
    if len(b) != BODY_SIZE:
        raise _fail(Code.QUOTE_TRUNCATED, "quote ends inside the TD quote body")
    rtmrs = tuple(b[0x148 + 48 * i : 0x148 + 48 * (i + 1)] for i in range(4))
    return TdQuoteBody(
        tee_tcb_svn=b[0x000:0x010],
        mr_seam=b[0x010:0x040],
        mr_signer_seam=b[0x040:0x070],
        seam_attributes=b[0x070:0x078],
        td_attributes=b[0x078:0x080],
        xfam=b[0x080:0x088],
        mr_td=b[0x088:0x0B8],
        mr_config_id=b[0x0B8:0x0E8],
        mr_owner=b[0x0E8:0x118],
        mr_owner_config=b[0x118:0x148],
        rtmrs=(rtmrs[0], rtmrs[1], rtmrs[2], rtmrs[3]),
        report_data=b[0x208:0x248],
    )


def parse_qe_report(raw: bytes) -> QeReport:
    """Parse a 384-byte SGX report (the QE report)."""
    return QeReport(
        raw=raw,
        cpu_svn=raw[0x00:0x10],
        misc_select=raw[0x10:0x14],
        attributes=raw[0x30:0x40],
        mr_enclave=raw[0x40:0x60],
        mr_signer=raw[0x80:0xA0],
        isv_prod_id=int.from_bytes(raw[0x100:0x102], "little"),
        isv_svn=int.from_bytes(raw[0x102:0x104], "little"),
        report_data=raw[0x140:0x180],
    )


class _Reader:
    """Cursor over the signed-data section; every read is bounds-checked."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise _fail(Code.QUOTE_TRUNCATED, f"quote ends inside {what}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u16(self, what: str) -> int:
        return int.from_bytes(self.take(2, what), "little")

    def u32(self, what: str) -> int:
        return int.from_bytes(self.take(4, what), "little")

    def rest(self) -> int:
        return len(self.data) - self.pos


def _sized(reader: _Reader, size: int, what: str) -> bytes:
    """A length-prefixed block that must end exactly where its container ends."""
    if size > reader.rest():
        raise _fail(Code.QUOTE_TRUNCATED, f"{what} declares {size} bytes, {reader.rest()} remain")
    if size != reader.rest():
        raise _fail(
            Code.QUOTE_FORMAT_UNSUPPORTED,
            f"{what} declares {size} bytes but {reader.rest()} follow",
        )
    return reader.take(size, what)


def parse_quote(raw: bytes) -> TdxQuote:
    """Parse a raw TDX v4 quote; raise HardwareError with a precise code on any layout error."""
    if len(raw) > MAX_QUOTE_SIZE:
        raise _fail(Code.QUOTE_FORMAT_UNSUPPORTED, f"quote of {len(raw)} bytes exceeds the limit")
    header = parse_header(raw)
    if len(raw) < MIN_QUOTE_SIZE:
        raise _fail(Code.QUOTE_TRUNCATED, f"quote has {len(raw)} bytes, minimum {MIN_QUOTE_SIZE}")
    body = parse_body(raw)
    top = _Reader(raw[SIGNED_END:])
    size = top.u32("signed-data size")
    # Bytes after the signed data are tolerated and ignored, as Intel's and Google's parsers do:
    # real quotes carry padding there (the Tinfoil quote 70 NULs, the SPR test quote a text
    # note). Nothing reads them, and nothing signed can be smuggled through them.
    signed_data = _Reader(top.take(size, "signed data"))
    signature = signed_data.take(64, "quote signature")
    attestation_key = signed_data.take(64, "attestation key")
    cert_type = signed_data.u16("certification data type")
    if cert_type != CERT_DATA_QE_REPORT:
        raise _fail(
            Code.QUOTE_FORMAT_UNSUPPORTED,
            f"certification data type {cert_type}, expected 6 (QE report)",
        )
    qe = _Reader(_sized(signed_data, signed_data.u32("certification data size"), "QE data"))
    qe_report = parse_qe_report(qe.take(QE_REPORT_SIZE, "QE report"))
    qe_report_signature = qe.take(64, "QE report signature")
    qe_auth_data = qe.take(qe.u16("QE auth data size"), "QE auth data")
    nested_type = qe.u16("PCK certification data type")
    if nested_type != CERT_DATA_PCK_CHAIN:
        raise _fail(
            Code.QUOTE_FORMAT_UNSUPPORTED,
            f"nested certification data type {nested_type}, expected 5 (PCK chain)",
        )
    chain = _sized(qe, qe.u32("PCK chain size"), "PCK chain")
    return TdxQuote(
        header=header,
        body=body,
        signed_bytes=raw[:SIGNED_END],
        signature=signature,
        attestation_key=attestation_key,
        qe_report=qe_report,
        qe_report_signature=qe_report_signature,
        qe_auth_data=qe_auth_data,
        pck_chain_pem=chain.rstrip(b"\x00"),
    )


__all__ = [
    "QeReport",
    "QuoteHeader",
    "TdQuoteBody",
    "TdxQuote",
    "parse_quote",
]
