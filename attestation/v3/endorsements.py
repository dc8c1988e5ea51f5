"""The signed platform-endorsements artifact: measurements, machines and named policies.

Parsed fail closed: unknown members, missing required members, wrong types, uppercase or
wrong-length hex, dangling references and machines whose identifier length does not fit their
policy's platform all reject (V3_PROV_ARTIFACT_INVALID). Absent booleans read as false. A
TDX policy names exactly one MR_SEAM: a machine running two module versions needs two
policies, so a list is refused rather than read as an allowlist.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from attestation.errors import Code, ProvenanceError
from attestation.v3.constants import PLATFORM_ENDORSEMENTS_V1

GUEST_POLICY_BITS: Final = (
    "smt",  # bit 16
    "",  # bit 17: reserved, must be one; not a policy choice
    "migrate_ma",
    "debug",
    "single_socket",
    "cxl_allowed",
    "mem_aes256_xts",
    "rapl_dis",
    "ciphertext_hiding_dram",
    "page_swap_disable",
)
PLATFORM_INFO_BITS: Final = (
    "smt_enabled",
    "tsme_enabled",
    "ecc_enabled",
    "rapl_disabled",
    "ciphertext_hiding_dram",
    "alias_check_complete",
    "iommu_write_safe",
    "tio_enabled",
)
_TCB_KEYS: Final = frozenset({"fmc_spl", "bl_spl", "tee_spl", "snp_spl", "ucode_spl"})
_SEV_REQUIRED: Final = (
    "minimum_build",
    "minimum_api_version",
    "minimum_abi_version",
    "minimum_guest_svn",
    "minimum_tcb",
    "minimum_launch_tcb",
    "guest_policy",
    "platform_info",
    "vmpl",
    "host_data",
    "image_id",
    "family_id",
    "minimum_launch_mitigation_vector",
    "minimum_current_mitigation_vector",
)
_SEV_OPTIONAL: Final = ("permit_provisional_firmware", "require_author_key", "require_id_block")
_TDX_MEMBERS: Final = (
    "qe_vendor_id",
    "minimum_tee_tcb_svn",
    "mr_seam",
    "td_attributes",
    "xfam",
    "minimum_tcb_evaluation_data_number",
    "platform_measurements",
)
_VERSION: Final = re.compile(r"(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})")
_LOWER_HEX: Final = re.compile(r"(?:[0-9a-f]{2})+")


@dataclass(frozen=True, slots=True)
class Shape:
    """A VM shape; ``gpus`` None means "not stated" and matches any count."""

    cpus: int
    memory_mb: int
    disks: int
    gpus: int | None = None

    def satisfies(self, required: Shape) -> bool:
        """Equal cpus, memory and disks; equal gpus only when both sides state it."""
        same = (self.cpus, self.memory_mb, self.disks) == (
            required.cpus,
            required.memory_mb,
            required.disks,
        )
        return same and (self.gpus is None or required.gpus is None or self.gpus == required.gpus)


@dataclass(frozen=True, slots=True)
class PlatformMeasurement:
    """An endorsed TDX platform (firmware) measurement for one VM shape."""

    mrtd: bytes
    rtmr0: bytes
    shape: Shape


@dataclass(frozen=True, slots=True)
class SevSnpPolicy:
    """Per-machine SEV-SNP expectations; TCB dicts use :class:`TcbVersion` component names."""

    minimum_build: int
    minimum_api_version: tuple[int, int]
    minimum_abi_version: tuple[int, int]
    minimum_guest_svn: int
    minimum_tcb: Mapping[str, int]
    minimum_launch_tcb: Mapping[str, int]
    guest_policy: Mapping[str, bool]
    platform_info: Mapping[str, bool]
    permit_provisional_firmware: bool
    vmpl: int
    host_data: bytes
    image_id: bytes
    family_id: bytes
    minimum_launch_mitigation_vector: int
    minimum_current_mitigation_vector: int


@dataclass(frozen=True, slots=True)
class TdxPolicy:
    """Per-machine TDX expectations: one TDX module (MR_SEAM), floors, allowed platforms."""

    qe_vendor_id: bytes
    minimum_tee_tcb_svn: bytes
    mr_seam: bytes
    td_attributes: bytes
    xfam: bytes
    minimum_tcb_evaluation_data_number: int
    platform_measurements: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NamedPolicy:
    """A policy and the name the artifact gives it."""

    name: str
    platform: str  # "sev-snp" | "tdx"
    sev_snp: SevSnpPolicy | None
    tdx: TdxPolicy | None


@dataclass(frozen=True, slots=True)
class Endorsements:
    """The whole verified artifact."""

    measurements: Mapping[str, PlatformMeasurement]
    machines: Mapping[str, str]
    policies: Mapping[str, NamedPolicy]

    def policy_for(self, identity: str) -> NamedPolicy | None:
        """The policy a machine identity (CHIP_ID / PPID hex) is endorsed under, if any."""
        name = self.machines.get(identity)
        return None if name is None else self.policies.get(name)


def _bad(message: str) -> ProvenanceError:
    return ProvenanceError(Code.V3_PROV_ARTIFACT_INVALID, f"platform endorsements: {message}")


def _obj(value: object, what: str, allowed: frozenset[str] | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(f"{what} is not an object")
    if allowed is not None and set(value) - allowed:
        raise _bad(f"{what} has unknown members {sorted(set(value) - allowed)}")
    return value


def _need(obj: dict[str, Any], key: str, what: str) -> Any:
    if key not in obj or obj[key] is None:
        raise _bad(f"{what}.{key} is required")
    return obj[key]


def _uint(value: object, what: str, bits: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
        raise _bad(f"{what} is not a uint{bits}")
    return value


def _bool(obj: dict[str, Any], key: str, what: str) -> bool:
    value = obj.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _bad(f"{what}.{key} is not a boolean")
    return value


def _hex(value: object, size: int, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * size or not _LOWER_HEX.fullmatch(value):
        raise _bad(f"{what} is not {size} bytes of lowercase hex")
    return bytes.fromhex(value)


def _version(value: object, what: str) -> tuple[int, int]:
    match = _VERSION.fullmatch(value) if isinstance(value, str) else None
    if match is None or int(match[1]) > 255 or int(match[2]) > 255:
        raise _bad(f"{what} is not a maj.min version")
    return int(match[1]), int(match[2])


def _tcb(value: object, what: str) -> dict[str, int]:
    obj = _obj(value, what, _TCB_KEYS)
    required = ("bl_spl", "tee_spl", "snp_spl", "ucode_spl")
    out = {k: _uint(_need(obj, k, what), f"{what}.{k}", 8) for k in required}
    if obj.get("fmc_spl") is not None:
        out["fmc_spl"] = _uint(obj["fmc_spl"], f"{what}.fmc_spl", 8)
    return out


def _flags(value: object, names: tuple[str, ...], what: str) -> dict[str, bool]:
    allowed = frozenset(n for n in names if n)
    obj = _obj(value, what, allowed)
    return {name: _bool(obj, name, what) for name in sorted(allowed)}


def _sev(value: object, what: str) -> SevSnpPolicy:
    obj = _obj(value, what, frozenset(_SEV_REQUIRED + _SEV_OPTIONAL))
    for key in _SEV_REQUIRED:
        _need(obj, key, what)
    if _bool(obj, "require_author_key", what) or _bool(obj, "require_id_block", what):
        raise _bad(f"{what} requires an author key or ID block (unsupported)")
    vmpl = _uint(obj["vmpl"], f"{what}.vmpl", 8)
    if vmpl > 3:
        raise _bad(f"{what}.vmpl is not 0..3")
    return SevSnpPolicy(
        minimum_build=_uint(obj["minimum_build"], f"{what}.minimum_build", 8),
        minimum_api_version=_version(obj["minimum_api_version"], f"{what}.minimum_api_version"),
        minimum_abi_version=_version(obj["minimum_abi_version"], f"{what}.minimum_abi_version"),
        minimum_guest_svn=_uint(obj["minimum_guest_svn"], f"{what}.minimum_guest_svn", 32),
        minimum_tcb=_tcb(obj["minimum_tcb"], f"{what}.minimum_tcb"),
        minimum_launch_tcb=_tcb(obj["minimum_launch_tcb"], f"{what}.minimum_launch_tcb"),
        guest_policy=_flags(obj["guest_policy"], GUEST_POLICY_BITS, f"{what}.guest_policy"),
        platform_info=_flags(obj["platform_info"], PLATFORM_INFO_BITS, f"{what}.platform_info"),
        permit_provisional_firmware=_bool(obj, "permit_provisional_firmware", what),
        vmpl=vmpl,
        host_data=_hex(obj["host_data"], 32, f"{what}.host_data"),
        image_id=_hex(obj["image_id"], 16, f"{what}.image_id"),
        family_id=_hex(obj["family_id"], 16, f"{what}.family_id"),
        minimum_launch_mitigation_vector=_uint(
            obj["minimum_launch_mitigation_vector"], f"{what}.launch mitigation", 64
        ),
        minimum_current_mitigation_vector=_uint(
            obj["minimum_current_mitigation_vector"], f"{what}.current mitigation", 64
        ),
    )


def _tdx(value: object, what: str) -> TdxPolicy:
    obj = _obj(value, what, frozenset(_TDX_MEMBERS))
    for key in _TDX_MEMBERS:
        _need(obj, key, what)
    slugs = obj["platform_measurements"]
    if not isinstance(slugs, list) or not slugs or not all(isinstance(s, str) for s in slugs):
        raise _bad(f"{what}.platform_measurements is not a non-empty list of names")
    return TdxPolicy(
        qe_vendor_id=_hex(obj["qe_vendor_id"], 16, f"{what}.qe_vendor_id"),
        minimum_tee_tcb_svn=_hex(obj["minimum_tee_tcb_svn"], 16, f"{what}.minimum_tee_tcb_svn"),
        mr_seam=_hex(obj["mr_seam"], 48, f"{what}.mr_seam (exactly one per policy)"),
        td_attributes=_hex(obj["td_attributes"], 8, f"{what}.td_attributes"),
        xfam=_hex(obj["xfam"], 8, f"{what}.xfam"),
        minimum_tcb_evaluation_data_number=_uint(
            obj["minimum_tcb_evaluation_data_number"], f"{what}.minimum eval number", 32
        ),
        platform_measurements=tuple(slugs),
    )


def _policy(name: str, value: object) -> NamedPolicy:
    what = f"policy {name!r}"
    obj = _obj(value, what, frozenset({"platform", "sev_snp", "tdx"}))
    platform = obj.get("platform")
    if platform == "sev-snp" and set(obj) == {"platform", "sev_snp"}:
        return NamedPolicy(name, platform, _sev(obj["sev_snp"], what), None)
    if platform == "tdx" and set(obj) == {"platform", "tdx"}:
        return NamedPolicy(name, platform, None, _tdx(obj["tdx"], what))
    raise _bad(f"{what} must name sev-snp or tdx and carry exactly that block")


def _shape(value: object, what: str) -> Shape:
    obj = _obj(value, what, frozenset({"cpus", "memory_mb", "gpus", "disks"}))
    gpus = obj.get("gpus")
    return Shape(
        cpus=_uint(_need(obj, "cpus", what), f"{what}.cpus", 63),
        memory_mb=_uint(_need(obj, "memory_mb", what), f"{what}.memory_mb", 63),
        disks=_uint(_need(obj, "disks", what), f"{what}.disks", 63),
        gpus=None if gpus is None else _uint(gpus, f"{what}.gpus", 63),
    )


def _measurement(slug: str, value: object) -> PlatformMeasurement:
    what = f"measurement {slug!r}"
    obj = _obj(value, what, frozenset({"mrtd", "rtmr0", "shape", "stack"}))
    stack = obj.get("stack")
    if stack is not None:
        stack_obj = _obj(stack, f"{what}.stack", frozenset({"qemu", "ovmf"}))
        if not all(isinstance(v, str) for v in stack_obj.values()):
            raise _bad(f"{what}.stack values are not strings")
    return PlatformMeasurement(
        mrtd=_hex(_need(obj, "mrtd", what), 48, f"{what}.mrtd"),
        rtmr0=_hex(_need(obj, "rtmr0", what), 48, f"{what}.rtmr0"),
        shape=_shape(_need(obj, "shape", what), f"{what}.shape"),
    )


def parse_endorsements(predicate: object) -> Endorsements:
    """Parse and validate the artifact (the statement's predicate)."""
    top = _obj(predicate, "artifact", frozenset({"format", "measurements", "machines", "policies"}))
    if top.get("format") != PLATFORM_ENDORSEMENTS_V1:
        raise _bad("format is not platform-endorsements/v1")
    measurements = {
        slug: _measurement(slug, v)
        for slug, v in _obj(_need(top, "measurements", "artifact"), "measurements").items()
    }
    policies = {n: _policy(n, v) for n, v in _obj(_need(top, "policies", "artifact"), "p").items()}
    for policy in policies.values():
        if policy.tdx is not None:
            for slug in policy.tdx.platform_measurements:
                if slug not in measurements:
                    raise _bad(f"policy {policy.name!r} names unknown measurement {slug!r}")
    machines: dict[str, str] = {}
    for ident, name in _obj(_need(top, "machines", "artifact"), "machines").items():
        target = policies.get(name) if isinstance(name, str) else None
        if target is None:
            raise _bad(f"machine {ident[:16]}… maps to no policy")
        size = 64 if target.platform == "sev-snp" else 16
        if len(ident) != 2 * size or not _LOWER_HEX.fullmatch(ident):
            raise _bad(f"machine {ident[:16]}… is not a {target.platform} identifier")
        machines[ident] = name
    return Endorsements(measurements=measurements, machines=machines, policies=policies)


__all__ = [
    "GUEST_POLICY_BITS",
    "PLATFORM_INFO_BITS",
    "Endorsements",
    "NamedPolicy",
    "PlatformMeasurement",
    "SevSnpPolicy",
    "Shape",
    "TdxPolicy",
    "parse_endorsements",
]
