"""TDX hardware-measurement platforms and matching (docs/attestation.md V4.3).

The multiplatform code measurement does not cover MRTD/RTMR0 (firmware, ACPI tables); those are
matched against a Sigstore-signed table of known QEMU/OVMF platform configurations published by
``tinfoilsh/hardware-measurements``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from attestation.errors import Code, MeasurementError, ProvenanceError
from attestation.models import TDX_GUEST_V2, Measurement


@dataclass(frozen=True, slots=True)
class HardwarePlatform:
    """One known platform: ``id`` is ``"{platform_id}@{digest}"``; registers lowercase hex."""

    id: str
    mrtd: str
    rtmr0: str


def platforms_from_predicate(predicate: object, digest: str) -> list[HardwarePlatform]:
    """Turn a verified hardware-measurements predicate into platforms, keeping document order.

    The predicate is ``{platform_id: {"mrtd": hex, "rtmr0": hex}, ...}``; any entry lacking
    a string mrtd/rtmr0 rejects the whole table (PREDICATE_MEASUREMENT_INVALID).
    """
    if not isinstance(predicate, Mapping):
        raise ProvenanceError(
            Code.PREDICATE_MEASUREMENT_INVALID, "hardware-measurements predicate is not an object"
        )
    platforms: list[HardwarePlatform] = []
    for platform_id, entry in predicate.items():
        mrtd = entry.get("mrtd") if isinstance(entry, Mapping) else None
        rtmr0 = entry.get("rtmr0") if isinstance(entry, Mapping) else None
        if not isinstance(mrtd, str) or not isinstance(rtmr0, str):
            raise ProvenanceError(
                Code.PREDICATE_MEASUREMENT_INVALID,
                f"hardware platform {platform_id!r} lacks string mrtd/rtmr0",
            )
        platforms.append(
            HardwarePlatform(id=f"{platform_id}@{digest}", mrtd=mrtd.lower(), rtmr0=rtmr0.lower())
        )
    return platforms


def match_hardware(platforms: Iterable[HardwarePlatform], enclave: Measurement) -> HardwarePlatform:
    """Return the first platform whose MRTD and RTMR0 equal the enclave's (V4.3)."""
    if enclave.type != TDX_GUEST_V2:
        raise MeasurementError(
            Code.ENCLAVE_MEASUREMENT_TYPE_INVALID,
            f"hardware matching needs a {TDX_GUEST_V2} measurement, got {enclave.type}",
        )
    if len(enclave.registers) != 5:
        raise MeasurementError(
            Code.ENCLAVE_REGISTER_COUNT_INVALID,
            f"TDX measurement needs 5 registers, got {len(enclave.registers)}",
        )
    mrtd = enclave.registers[0].lower()
    rtmr0 = enclave.registers[1].lower()
    for platform in platforms:
        if platform.mrtd.lower() == mrtd and platform.rtmr0.lower() == rtmr0:
            return platform
    raise MeasurementError(Code.HARDWARE_NO_MATCH, "no known hardware platform matches MRTD/RTMR0")


__all__ = ["HardwarePlatform", "match_hardware", "platforms_from_predicate"]
