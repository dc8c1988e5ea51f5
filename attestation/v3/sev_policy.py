"""Check an authenticated SEV-SNP report against its machine's signed v3 policy.

Stops at the first failure, in the reference order: guest SVN, guest policy (ABI floor, then
exact bits), exact fields (REPORT_DATA, HOST_DATA, FAMILY_ID, IMAGE_ID, MEASUREMENT), TCB,
firmware, PLATFORM_INFO (exact bits), mitigation vectors, VMPL, ID block. CHIP_ID against
the VCEK HWID and REPORTED_TCB against the VCEK TCB were checked when the report was
authenticated.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Final

from attestation.errors import Code, PolicyError
from attestation.sev.abi import Product, SevReport
from attestation.v3.endorsements import GUEST_POLICY_BITS, PLATFORM_INFO_BITS, SevSnpPolicy

_POLICY_SHIFT: Final = 16
_RESERVED_MBO: Final = 1 << 17
_AUTHOR_KEY_EN: Final = 0x1  # SIGNER_INFO bit 0


def _fail(code: Code, message: str) -> PolicyError:
    return PolicyError(code, message)


def _bits(flags: Mapping[str, bool], names: tuple[str, ...], shift: int) -> int:
    return sum(1 << (shift + i) for i, name in enumerate(names) if name and flags.get(name))


def _at_least(have: dict[str, int], floor: dict[str, int]) -> str | None:
    for key, minimum in floor.items():
        if have.get(key, -1) < minimum:
            return f"{key}={have.get(key)} < {minimum}"
    return None


def _check_product(product: Product, policy: SevSnpPolicy) -> None:
    fmc = ("fmc_spl" in policy.minimum_tcb, "fmc_spl" in policy.minimum_launch_tcb)
    iommu = policy.platform_info.get("iommu_write_safe", False)
    if product is Product.GENOA and (any(fmc) or iommu):
        raise _fail(Code.V3_POLICY_PRODUCT_RULE, "Genoa policy must not set fmc_spl/iommu")
    if product is Product.TURIN and (not all(fmc) or not iommu):
        raise _fail(Code.V3_POLICY_PRODUCT_RULE, "Turin policy needs fmc_spl and iommu_write_safe")


def _check_tcb(report: SevReport, vcek_tcb: dict[str, int], policy: SevSnpPolicy) -> None:
    current = report.current_tcb.components()
    provisional = report.committed_tcb_raw != report.current_tcb_raw
    if provisional and not policy.permit_provisional_firmware:
        raise _fail(Code.V3_POLICY_TCB, "committed TCB differs from current (provisional)")
    checks = (
        ("current TCB vs committed", current, report.committed_tcb.components()),
        ("launch TCB", report.launch_tcb.components(), dict(policy.minimum_launch_tcb)),
        ("current TCB vs VCEK", current, vcek_tcb),
        ("reported TCB", report.reported_tcb.components(), dict(policy.minimum_tcb)),
    )
    for what, have, floor in checks:
        problem = _at_least(have, floor)
        if problem is not None:
            raise _fail(Code.V3_POLICY_TCB, f"{what}: {problem}")
    fw, committed_fw = report.current_version, report.committed_version
    if fw.build < policy.minimum_build or (fw.major, fw.minor) < policy.minimum_api_version:
        raise _fail(Code.V3_POLICY_TCB, f"firmware {fw.major}.{fw.minor} build {fw.build} too old")
    if not policy.permit_provisional_firmware and committed_fw != fw:
        raise _fail(Code.V3_POLICY_TCB, "committed firmware differs from current")


def _mitigation_vectors(report: SevReport) -> tuple[int, int]:
    if report.version < 5:
        return 0, 0  # older reports carry none: any non-zero floor then fails closed
    raw = report.raw
    return int.from_bytes(raw[0x1F8:0x200], "little"), int.from_bytes(raw[0x200:0x208], "little")


def validate_sev(
    report: SevReport,
    vcek_tcb: dict[str, int],
    policy: SevSnpPolicy,
    *,
    report_data: bytes,
    measurement: bytes,
) -> None:
    """Raise :class:`PolicyError` with the code of the first violated rule."""
    _check_product(report.product, policy)
    if report.guest_svn < policy.minimum_guest_svn:
        raise _fail(Code.V3_POLICY_FIELDS, f"GUEST_SVN {report.guest_svn} below the minimum")
    p = report.policy
    if ((p >> 8) & 0xFF, p & 0xFF) < policy.minimum_abi_version:
        raise _fail(Code.V3_POLICY_GUEST_POLICY, "guest policy ABI below the minimum")
    wanted = _bits(policy.guest_policy, GUEST_POLICY_BITS, _POLICY_SHIFT) | _RESERVED_MBO
    if p >> _POLICY_SHIFT != wanted >> _POLICY_SHIFT:
        raise _fail(
            Code.V3_POLICY_GUEST_POLICY, f"guest policy 0x{p:x} is not exactly 0x{wanted:x}"
        )
    exact = (
        (report.report_data, report_data, Code.V3_POLICY_REPORT_DATA, "REPORT_DATA"),
        (report.host_data, policy.host_data, Code.V3_POLICY_FIELDS, "HOST_DATA"),
        (report.family_id, policy.family_id, Code.V3_POLICY_FIELDS, "FAMILY_ID"),
        (report.image_id, policy.image_id, Code.V3_POLICY_FIELDS, "IMAGE_ID"),
        (report.measurement, measurement, Code.V3_POLICY_MEASUREMENT, "MEASUREMENT"),
    )
    for have, want, code, what in exact:
        if not hmac.compare_digest(have, want):
            raise _fail(code, f"{what} differs from the expected value")
    _check_tcb(report, vcek_tcb, policy)
    info = _bits(policy.platform_info, PLATFORM_INFO_BITS, 0)
    if report.platform_info != info:
        raise _fail(
            Code.V3_POLICY_PLATFORM_INFO,
            f"PLATFORM_INFO 0x{report.platform_info:x} is not exactly 0x{info:x}",
        )
    launch, current = _mitigation_vectors(report)
    for vector, floor, what in (
        (launch, policy.minimum_launch_mitigation_vector, "launch"),
        (current, policy.minimum_current_mitigation_vector, "current"),
    ):
        if vector & floor != floor:
            raise _fail(Code.V3_POLICY_FIELDS, f"{what} mitigation vector lacks required bits")
    if report.vmpl != policy.vmpl:
        raise _fail(Code.V3_POLICY_FIELDS, f"VMPL {report.vmpl} is not {policy.vmpl}")
    if (
        report.signer_info & _AUTHOR_KEY_EN
        or any(report.id_key_digest)
        or any(report.author_key_digest)
    ):
        raise _fail(Code.V3_POLICY_ID_BLOCK, "ID block or author key present")


__all__ = ["validate_sev"]
