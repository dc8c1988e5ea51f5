"""Check a signature-verified SEV-SNP report against :class:`SevPolicy` (docs/attestation.md V2.3).

Runs only after ``certs.py`` and ``verify.py`` accepted the report: nothing here is a
cryptographic check. Does **not** check VMPL, ID blocks or the author key beyond the optional
pins (the references do not either).
"""

from __future__ import annotations

import hmac

from attestation.errors import Code, HardwareError
from attestation.sev.abi import SIGNING_KEY_VCEK, SevReport, TcbVersion
from attestation.sev.policy import SevPolicy

# Guest POLICY bits (V2.1).
_SMT = 1 << 16
_RESERVED_MBO = 1 << 17
_MIGRATE_MA = 1 << 18
_DEBUG = 1 << 19
_CXL_ALLOW = 1 << 21
_MEM_AES_256_XTS = 1 << 22
_MBZ_FROM_BIT = 26
# PLATFORM_INFO bits.
_TSME_EN = 1 << 1


def _check_guest_policy(report: SevReport, policy: SevPolicy) -> None:
    p = report.policy
    if not p & _RESERVED_MBO or p >> _MBZ_FROM_BIT:
        raise HardwareError(
            Code.GUEST_POLICY_RESERVED_BIT_SET,
            f"guest policy 0x{p:x}: bit 17 clear or bits 26+ set",
        )
    if p & _DEBUG:
        raise HardwareError(Code.GUEST_POLICY_DEBUG_SET, "guest policy allows debugging")
    if p & _MIGRATE_MA:
        raise HardwareError(
            Code.GUEST_POLICY_MIGRATE_MA_SET, "guest policy allows a migration agent"
        )
    if p & (_CXL_ALLOW | _MEM_AES_256_XTS):
        raise HardwareError(
            Code.GUEST_POLICY_UNAUTHORIZED, "guest policy sets CXL_ALLOW or MEM_AES_256_XTS"
        )
    abi = ((p >> 8) & 0xFF, p & 0xFF)
    if abi < (policy.min_abi_major, policy.min_abi_minor):
        raise HardwareError(
            Code.FIRMWARE_OUT_OF_DATE, f"guest policy ABI {abi[0]}.{abi[1]} too old"
        )


def _check_tcb(name: str, tcb: TcbVersion, policy: SevPolicy) -> None:
    have = tcb.components()
    for key, minimum in policy.min_tcb.components().items():
        if have[key] < minimum:
            raise HardwareError(
                Code.TCB_OUT_OF_DATE, f"{name} {key}={have[key]} is below the minimum {minimum}"
            )


def _check_pin(actual: bytes, pin: bytes | None, code: Code, what: str) -> None:
    if pin is not None and not hmac.compare_digest(actual, pin):
        raise HardwareError(code, f"{what} differs from the pinned value")


def validate_report(report: SevReport, policy: SevPolicy) -> None:
    """Raise :class:`HardwareError` with the specific code for the first policy violation."""
    # Signer: only a VCEK with an unmasked chip ID can be tied to a KDS certificate.
    if report.signing_key != SIGNING_KEY_VCEK:
        raise HardwareError(Code.SIGNER_INFO_INVALID, "report is not signed by a VCEK")
    if report.mask_chip_key:
        raise HardwareError(Code.SIGNER_INFO_INVALID, "MASK_CHIP_KEY is set; chip ID is hidden")
    _check_guest_policy(report, policy)
    if report.guest_svn < policy.min_guest_svn:
        raise HardwareError(Code.TCB_OUT_OF_DATE, f"guest SVN {report.guest_svn} too low")
    if policy.require_tsme and not report.platform_info & _TSME_EN:
        raise HardwareError(Code.PLATFORM_INFO_INVALID, "platform TSME is not enabled")

    min_api = (policy.min_api_major, policy.min_api_minor)
    for label, fw in (("current", report.current_version), ("committed", report.committed_version)):
        if fw.build < policy.min_build or (fw.major, fw.minor) < min_api:
            raise HardwareError(
                Code.FIRMWARE_OUT_OF_DATE,
                f"{label} firmware {fw.major}.{fw.minor} build {fw.build} is below the minimum",
            )
    if not policy.allow_provisional_firmware and (
        report.committed_version != report.current_version
        or report.committed_tcb_raw != report.current_tcb_raw
    ):
        raise HardwareError(Code.PROVISIONAL_FIRMWARE, "committed firmware differs from current")

    _check_tcb("current TCB", report.current_tcb, policy)
    _check_tcb("committed TCB", report.committed_tcb, policy)
    _check_tcb("reported TCB", report.reported_tcb, policy)
    _check_tcb("launch TCB", report.launch_tcb, policy)

    _check_pin(
        report.measurement, policy.expected_measurement, Code.MEASUREMENT_MISMATCH, "measurement"
    )
    _check_pin(report.host_data, policy.expected_host_data, Code.HOST_DATA_MISMATCH, "host_data")
    _check_pin(
        report.report_data, policy.expected_report_data, Code.REPORT_DATA_MISMATCH, "report_data"
    )
    _check_pin(
        report.id_key_digest,
        policy.expected_id_key_digest,
        Code.ID_KEY_DIGEST_MISMATCH,
        "id_key_digest",
    )
    _check_pin(
        report.author_key_digest,
        policy.expected_author_key_digest,
        Code.AUTHOR_KEY_DIGEST_MISMATCH,
        "author_key_digest",
    )


__all__ = ["validate_report"]
