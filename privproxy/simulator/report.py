"""Simulated SEV-SNP attestation reports: 1184-byte v3 reports signed by a simulated VCEK.

Layout per docs/attestation.md V2.1 and docs/protocol.md §2.2 (integers little-endian). The default
field values are those of the real Tinfoil Genoa report, which pass the production policy of
V2.3: policy 0x30000 (reserved bit 17 and SMT set, no debug, no migration agent), platform
info 0x27 (SMT, TSME, ECC, alias check), TCB {bl 10, tee 0, snp 23, ucode 84}, firmware 1.55
build 40, committed == current, CPUID family 0x19 model 0x11 (Genoa), signed by the VCEK.

The signature is ECDSA P-384 / SHA-384 over bytes [0, 0x2A0); r and s are written
little-endian into 72-byte fields at 0x2A0 and 0x2E8 (V2.2 step 5).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from privproxy.simulator.amd import TcbVersion

REPORT_SIZE: Final = 0x4A0
SIGNED_END: Final = 0x2A0
SIGNATURE_COMPONENT_SIZE: Final = 72

GENOA_TCB: Final = TcbVersion(bl=10, tee=0, snp=23, ucode=84)
"""The TCB of the real Tinfoil report (above the production minimum {7, 0, 14, 72})."""

POLICY_DEFAULT: Final = 0x30000  # bit 16 SMT allowed, bit 17 reserved-must-be-one
POLICY_DEBUG_BIT: Final = 1 << 19
PLATFORM_INFO_DEFAULT: Final = 0x27  # SMT_EN, TSME_EN, ECC_EN, ALIAS_CHECK_COMPLETE


@dataclass(frozen=True, slots=True)
class ReportFields:
    """The values a simulated report carries. Defaults mirror the real Genoa report."""

    report_data: bytes
    measurement: bytes
    chip_id: bytes
    tcb: TcbVersion = GENOA_TCB
    version: int = 3
    guest_svn: int = 0
    policy: int = POLICY_DEFAULT
    vmpl: int = 0
    platform_info: int = PLATFORM_INFO_DEFAULT
    signer_info: int = 0  # signing key 0 = VCEK, chip key not masked
    host_data: bytes = bytes(32)
    firmware: tuple[int, int, int] = (40, 55, 1)  # build, minor, major
    cpuid: tuple[int, int, int] = (0x19, 0x11, 0x01)  # family, model, stepping: Genoa
    report_id: bytes = field(default_factory=lambda: os.urandom(32))

    def __post_init__(self) -> None:
        if len(self.report_data) != 64 or len(self.measurement) != 48 or len(self.chip_id) != 64:
            raise ValueError("report_data is 64 bytes, measurement 48, chip_id 64")


def build_unsigned(fields: ReportFields) -> bytearray:
    """The 1184-byte report with a zero signature area."""
    r = bytearray(REPORT_SIZE)
    struct.pack_into("<IIQ", r, 0x000, fields.version, fields.guest_svn, fields.policy)
    struct.pack_into("<II", r, 0x030, fields.vmpl, 1)  # signature algorithm 1 = ECDSA P-384
    tcb = fields.tcb.to_bytes()
    r[0x038:0x040] = tcb  # CURRENT_TCB
    struct.pack_into("<QI", r, 0x040, fields.platform_info, fields.signer_info)
    r[0x050:0x090] = fields.report_data
    r[0x090:0x0C0] = fields.measurement
    r[0x0C0:0x0E0] = fields.host_data
    r[0x140:0x160] = fields.report_id
    r[0x160:0x180] = b"\xff" * 32  # REPORT_ID_MA: no migration agent
    r[0x180:0x188] = tcb  # REPORTED_TCB (selects the VCEK)
    r[0x188:0x18B] = bytes(fields.cpuid)
    r[0x1A0:0x1E0] = fields.chip_id
    r[0x1E0:0x1E8] = tcb  # COMMITTED_TCB == current: no provisional firmware
    r[0x1E8:0x1EB] = bytes(fields.firmware)  # CURRENT build, minor, major
    r[0x1EC:0x1EF] = bytes(fields.firmware)  # COMMITTED build, minor, major
    r[0x1F0:0x1F8] = tcb  # LAUNCH_TCB
    return r


def sign_report(report: bytes | bytearray, key: ec.EllipticCurvePrivateKey) -> bytes:
    """(Re-)sign `report[0:0x2A0]` with `key`, writing r and s little-endian at 0x2A0."""
    if len(report) != REPORT_SIZE:
        raise ValueError("an SEV-SNP report is 1184 bytes")
    out = bytearray(report)
    r_int, s_int = decode_dss_signature(
        key.sign(bytes(out[:SIGNED_END]), ec.ECDSA(hashes.SHA384()))
    )
    out[SIGNED_END:] = bytes(REPORT_SIZE - SIGNED_END)
    size = SIGNATURE_COMPONENT_SIZE
    out[SIGNED_END : SIGNED_END + size] = r_int.to_bytes(size, "little")
    out[SIGNED_END + size : SIGNED_END + 2 * size] = s_int.to_bytes(size, "little")
    return bytes(out)


def build_report(fields: ReportFields, key: ec.EllipticCurvePrivateKey) -> bytes:
    """A complete, signed report."""
    return sign_report(build_unsigned(fields), key)


__all__ = [
    "GENOA_TCB",
    "PLATFORM_INFO_DEFAULT",
    "POLICY_DEBUG_BIT",
    "POLICY_DEFAULT",
    "REPORT_SIZE",
    "ReportFields",
    "build_report",
    "build_unsigned",
    "sign_report",
]
