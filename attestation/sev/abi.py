"""Parse a raw AMD SEV-SNP attestation report (1184 bytes) into a frozen value.

Pure and complete: bytes in, :class:`SevReport` out. Checks format only: the exact size,
known versions, the signature algorithm field, must-be-zero ranges and reserved
SIGNER_INFO bits (docs/attestation.md V2.1, SEV-SNP ABI spec "ATTESTATION_REPORT").

Does **not** check: the signature (``verify.py``), the certificate chain (``certs.py``),
or any policy such as debug bits, TCB minimums or the signing-key type (``validate.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from attestation.errors import BundleError, Code, HardwareError

REPORT_SIZE: Final = 0x4A0
SIGNED_REGION_END: Final = 0x2A0  # the signature covers report[0:0x2A0]
SIGNATURE_COMPONENT_SIZE: Final = 72  # r and s, little-endian, zero-padded past 48 bytes
ECDSA_P384_SHA384: Final = 1
MIN_VERSION: Final = 2
MAX_VERSION: Final = 5

# SIGNER_INFO.SIGNING_KEY values (bits 2-4).
SIGNING_KEY_VCEK: Final = 0
SIGNING_KEY_VLEK: Final = 1
SIGNING_KEY_NONE: Final = 7


class Product(StrEnum):
    """AMD EPYC generation; names as AMD KDS spells them."""

    MILAN = "Milan"
    GENOA = "Genoa"
    TURIN = "Turin"


@dataclass(frozen=True, slots=True)
class TcbVersion:
    """Decoded TCB_VERSION (V2.1: layout depends on the product)."""

    raw: int  # the little-endian u64 as stored
    bl_spl: int
    tee_spl: int
    snp_spl: int
    ucode_spl: int
    fmc_spl: int | None = None  # Turin only

    def components(self) -> dict[str, int]:
        """Named components, for comparisons and display."""
        out = {
            "bl_spl": self.bl_spl,
            "tee_spl": self.tee_spl,
            "snp_spl": self.snp_spl,
            "ucode_spl": self.ucode_spl,
        }
        if self.fmc_spl is not None:
            out["fmc_spl"] = self.fmc_spl
        return out


def decode_tcb(raw: int, product: Product) -> TcbVersion:
    """Decode a TCB_VERSION u64 for ``product`` (Milan/Genoa struct v0, Turin struct v1)."""
    b = raw.to_bytes(8, "little")
    if product is Product.TURIN:
        if any(b[4:7]):
            raise HardwareError(Code.REPORT_FORMAT_UNSUPPORTED, "Turin TCB reserved bytes not zero")
        return TcbVersion(
            raw, bl_spl=b[1], tee_spl=b[2], snp_spl=b[3], ucode_spl=b[7], fmc_spl=b[0]
        )
    return TcbVersion(raw, bl_spl=b[0], tee_spl=b[1], snp_spl=b[6], ucode_spl=b[7])


@dataclass(frozen=True, slots=True)
class FirmwareVersion:
    """Firmware build and API version (CURRENT_* / COMMITTED_* at 0x1E8 / 0x1EC)."""

    build: int
    minor: int
    major: int


@dataclass(frozen=True, slots=True)
class SevReport:
    """A parsed, *unverified* SEV-SNP report. Integers are host order; byte fields raw."""

    raw: bytes
    version: int
    guest_svn: int
    policy: int
    family_id: bytes
    image_id: bytes
    vmpl: int
    signature_algo: int
    current_tcb_raw: int
    platform_info: int
    signer_info: int
    report_data: bytes
    measurement: bytes
    host_data: bytes
    id_key_digest: bytes
    author_key_digest: bytes
    report_id: bytes
    report_id_ma: bytes
    reported_tcb_raw: int
    cpuid_fms: tuple[int, int, int] | None  # family, model, stepping (v3+)
    chip_id: bytes
    committed_tcb_raw: int
    current_version: FirmwareVersion
    committed_version: FirmwareVersion
    launch_tcb_raw: int
    signature_r: int
    signature_s: int
    product: Product

    @property
    def signed_bytes(self) -> bytes:
        """The bytes the VCEK signature covers."""
        return self.raw[:SIGNED_REGION_END]

    @property
    def signing_key(self) -> int:
        """SIGNER_INFO.SIGNING_KEY (0 VCEK, 1 VLEK, 7 none)."""
        return (self.signer_info >> 2) & 0x7

    @property
    def mask_chip_key(self) -> bool:
        """SIGNER_INFO.MASK_CHIP_KEY: CHIP_ID is zeroed in the report."""
        return bool(self.signer_info & 0x2)

    @property
    def current_tcb(self) -> TcbVersion:
        """CURRENT_TCB decoded for the report's product."""
        return decode_tcb(self.current_tcb_raw, self.product)

    @property
    def reported_tcb(self) -> TcbVersion:
        """REPORTED_TCB (selects the VCEK) decoded for the report's product."""
        return decode_tcb(self.reported_tcb_raw, self.product)

    @property
    def committed_tcb(self) -> TcbVersion:
        """COMMITTED_TCB decoded for the report's product."""
        return decode_tcb(self.committed_tcb_raw, self.product)

    @property
    def launch_tcb(self) -> TcbVersion:
        """LAUNCH_TCB decoded for the report's product."""
        return decode_tcb(self.launch_tcb_raw, self.product)


def product_from_fms(family: int, model: int) -> Product:
    """Map CPUID family/model to a product (V2.1). Raises for unknown CPUs."""
    if family == 0x19 and model == 0x01:
        return Product.MILAN
    if family == 0x19 and model == 0x11:
        return Product.GENOA
    if family == 0x1A and (model >> 4) in (0, 1) and (model & 0xF) == 0x02:
        return Product.TURIN
    raise HardwareError(
        Code.REPORT_FORMAT_UNSUPPORTED, f"unknown CPU family 0x{family:x} model 0x{model:x}"
    )


def _mbz(raw: bytes, start: int, end: int, what: str) -> None:
    if any(raw[start:end]):
        raise BundleError(
            Code.REPORT_FORMAT_UNSUPPORTED, f"must-be-zero bytes 0x{start:x}-0x{end:x} set ({what})"
        )


def parse_report(raw: bytes) -> SevReport:
    """Parse and format-check a raw SEV-SNP report (V2.1). Raises :class:`BundleError`."""
    if len(raw) < REPORT_SIZE:
        raise BundleError(Code.REPORT_TRUNCATED, f"report is {len(raw)} bytes, need {REPORT_SIZE}")
    if len(raw) > REPORT_SIZE:
        raise BundleError(
            Code.REPORT_FORMAT_UNSUPPORTED, f"report is {len(raw)} bytes, need {REPORT_SIZE}"
        )

    def u32(off: int) -> int:
        return int.from_bytes(raw[off : off + 4], "little")

    def u64(off: int) -> int:
        return int.from_bytes(raw[off : off + 8], "little")

    version = u32(0x000)
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise BundleError(Code.WRONG_REPORT_VERSION, f"report version {version} not in 2..5")
    signature_algo = u32(0x034)
    if signature_algo != ECDSA_P384_SHA384:
        raise BundleError(
            Code.REPORT_FORMAT_UNSUPPORTED,
            f"signature algorithm {signature_algo} is not ECDSA P-384",
        )
    signer_info = u32(0x048)
    if signer_info >> 5:
        raise BundleError(Code.SIGNER_INFO_INVALID, "SIGNER_INFO bits 5-31 must be zero")
    if ((signer_info >> 2) & 0x7) not in (SIGNING_KEY_VCEK, SIGNING_KEY_VLEK, SIGNING_KEY_NONE):
        raise BundleError(Code.SIGNER_INFO_INVALID, "SIGNER_INFO.SIGNING_KEY is a reserved value")
    _mbz(raw, 0x04C, 0x050, "reserved after SIGNER_INFO")

    if version >= 3:
        family, model, stepping = raw[0x188], raw[0x189], raw[0x18A]
        fms: tuple[int, int, int] | None = (family, model, stepping)
        product = product_from_fms(family, model)
        _mbz(raw, 0x18B, 0x1A0, "reserved after CPUID")
    else:
        # v2 reports carry no CPUID; the references assume Genoa (V2.1).
        fms = None
        product = Product.GENOA
        _mbz(raw, 0x188, 0x1A0, "reserved after REPORTED_TCB")
    _mbz(raw, 0x1EB, 0x1EC, "reserved after CURRENT version")
    _mbz(raw, 0x1EF, 0x1F0, "reserved after COMMITTED version")
    _mbz(raw, 0x1F8 if version < 5 else 0x208, SIGNED_REGION_END, "reserved before signature")
    sig_end = SIGNED_REGION_END + 2 * SIGNATURE_COMPONENT_SIZE
    _mbz(raw, sig_end, REPORT_SIZE, "reserved after signature")

    r_bytes = raw[SIGNED_REGION_END : SIGNED_REGION_END + SIGNATURE_COMPONENT_SIZE]
    s_bytes = raw[SIGNED_REGION_END + SIGNATURE_COMPONENT_SIZE : sig_end]
    return SevReport(
        raw=bytes(raw),
        version=version,
        guest_svn=u32(0x004),
        policy=u64(0x008),
        family_id=raw[0x010:0x020],
        image_id=raw[0x020:0x030],
        vmpl=u32(0x030),
        signature_algo=signature_algo,
        current_tcb_raw=u64(0x038),
        platform_info=u64(0x040),
        signer_info=signer_info,
        report_data=raw[0x050:0x090],
        measurement=raw[0x090:0x0C0],
        host_data=raw[0x0C0:0x0E0],
        id_key_digest=raw[0x0E0:0x110],
        author_key_digest=raw[0x110:0x140],
        report_id=raw[0x140:0x160],
        report_id_ma=raw[0x160:0x180],
        reported_tcb_raw=u64(0x180),
        cpuid_fms=fms,
        chip_id=raw[0x1A0:0x1E0],
        committed_tcb_raw=u64(0x1E0),
        current_version=FirmwareVersion(raw[0x1E8], raw[0x1E9], raw[0x1EA]),
        committed_version=FirmwareVersion(raw[0x1EC], raw[0x1ED], raw[0x1EE]),
        launch_tcb_raw=u64(0x1F0),
        signature_r=int.from_bytes(r_bytes, "little"),
        signature_s=int.from_bytes(s_bytes, "little"),
        product=product,
    )


__all__ = [
    "REPORT_SIZE",
    "SIGNED_REGION_END",
    "FirmwareVersion",
    "Product",
    "SevReport",
    "TcbVersion",
    "decode_tcb",
    "parse_report",
    "product_from_fms",
]
