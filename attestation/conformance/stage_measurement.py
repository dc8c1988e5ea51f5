"""Conformance stage ``verify-measurement`` (docs/attestation.md V5).

Input ``{source, target?}``; outputs the fingerprints; with a target, the two must compare
equal under :func:`attestation.measurements.compare_measurements`.
"""

from __future__ import annotations

from typing import Any, Final

from attestation.conformance.base import MalformedInput, RejectionContract
from attestation.measurements import compare_measurements, make_measurement
from attestation.models import Measurement

STAGE: Final = "verify-measurement"

REJECTION: Final = RejectionContract(
    codes=frozenset(
        {
            "MEASUREMENT_TYPE_UNKNOWN",
            "MEASUREMENT_REGISTER_COUNT_INVALID",
            "MEASUREMENT_TYPE_COMBINATION_UNSUPPORTED",
            "MEASUREMENT_MISMATCH",
            "MEASUREMENT_RTMR3_NONZERO",
        }
    )
)

CAPABILITIES: Final[dict[str, object]] = {
    "measurement": {"compare_multiplatform_to_tdx_supported": True},
}


def parse_measurement(raw: object, name: str) -> Measurement:
    """Schema-check ``{type, registers}`` then build (MEASUREMENT_* codes reject)."""
    if not isinstance(raw, dict) or set(raw) != {"type", "registers"}:
        raise MalformedInput(f"{name} must be an object with exactly type and registers")
    type_uri, registers = raw["type"], raw["registers"]
    if not isinstance(type_uri, str):
        raise MalformedInput(f"{name}.type must be a string")
    if not isinstance(registers, list) or not all(isinstance(r, str) for r in registers):
        raise MalformedInput(f"{name}.registers must be a list of strings")
    return make_measurement(type_uri, registers)


def run(data: dict[str, Any]) -> dict[str, object]:
    """Fingerprint ``source`` (and ``target``), comparing them when a target is given."""
    if set(data) - {"schema_version", "source", "target"} or data.get("schema_version") != "1":
        raise MalformedInput("input does not match verify-measurement.input.schema.json")
    if "source" not in data:
        raise MalformedInput("source is required")
    source = parse_measurement(data["source"], "source")
    raw_target = data.get("target")
    if raw_target is None:
        return {"source_fingerprint_hex": source.fingerprint(), "target_fingerprint_hex": None}
    target = parse_measurement(raw_target, "target")
    compare_measurements(source, target)
    return {
        "source_fingerprint_hex": source.fingerprint(),
        "target_fingerprint_hex": target.fingerprint(),
    }


__all__ = ["CAPABILITIES", "STAGE", "parse_measurement", "run"]
