"""Conformance stage ``verify-hardware-measurements`` (docs/attestation.md V4.3).

Matches an enclave TDX measurement against a given platform list. The list's Sigstore
provenance is verified elsewhere
(:func:`attestation.provenance.verify_hardware_measurements_bundle`).
"""

from __future__ import annotations

from typing import Any, Final

from attestation.conformance.base import MalformedInput, RejectionContract
from attestation.hardware_measurements import HardwarePlatform, match_hardware
from attestation.models import Measurement

STAGE: Final = "verify-hardware-measurements"

REJECTION: Final = RejectionContract(
    codes=frozenset(
        {"HARDWARE_NO_MATCH", "ENCLAVE_MEASUREMENT_TYPE_INVALID", "ENCLAVE_REGISTER_COUNT_INVALID"}
    )
)

CAPABILITIES: Final[dict[str, object]] = {}

_INPUT_KEYS: Final = frozenset({"schema_version", "enclave_measurement", "hardware_measurements"})


def _enclave(raw: object) -> Measurement:
    if not isinstance(raw, dict) or set(raw) != {"type", "registers"}:
        raise MalformedInput("enclave_measurement must have exactly type and registers")
    type_uri, registers = raw["type"], raw["registers"]
    if not isinstance(type_uri, str) or not isinstance(registers, list):
        raise MalformedInput("enclave_measurement type/registers have the wrong JSON types")
    if not all(isinstance(r, str) for r in registers):
        raise MalformedInput("enclave_measurement.registers must be strings")
    # Not make_measurement: the type/count checks here carry the ENCLAVE_* codes (V4.3).
    return Measurement(type=type_uri, registers=tuple(r.lower() for r in registers))


def _platform(raw: object) -> HardwarePlatform:
    if not isinstance(raw, dict) or set(raw) != {"id", "mrtd", "rtmr0"}:
        raise MalformedInput("hardware_measurements[] must have exactly id, mrtd and rtmr0")
    if not all(isinstance(v, str) for v in raw.values()):
        raise MalformedInput("hardware_measurements[] values must be strings")
    return HardwarePlatform(id=raw["id"], mrtd=raw["mrtd"].lower(), rtmr0=raw["rtmr0"].lower())


def run(data: dict[str, Any]) -> dict[str, object]:
    """Return the first matching platform, or reject (V4.3)."""
    if set(data) != _INPUT_KEYS or data["schema_version"] != "1":
        raise MalformedInput("input does not match verify-hardware-measurements.input.schema.json")
    platforms = data["hardware_measurements"]
    if not isinstance(platforms, list):
        raise MalformedInput("hardware_measurements must be a list")
    matched = match_hardware(
        [_platform(p) for p in platforms], _enclave(data["enclave_measurement"])
    )
    return {"matched_id": matched.id, "matched_mrtd": matched.mrtd, "matched_rtmr0": matched.rtmr0}


__all__ = ["CAPABILITIES", "STAGE", "run"]
