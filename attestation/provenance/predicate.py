"""Measurement extraction from verified in-toto predicates (docs/attestation.md V4.2 step 11)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from attestation.errors import Code, MeasurementError, ProvenanceError
from attestation.measurements import make_measurement
from attestation.models import SNP_TDX_MULTIPLATFORM_V1, Measurement

_REGISTER: Final = re.compile(r"[0-9a-fA-F]{96}")


def _register(value: object, name: str) -> str:
    if not isinstance(value, str) or not _REGISTER.fullmatch(value):
        raise ProvenanceError(
            Code.PREDICATE_MEASUREMENT_INVALID, f"predicate {name} is not a 48-byte hex string"
        )
    return value


def multiplatform_measurement(predicate: object) -> Measurement:
    """``{snp_measurement, tdx_measurement: {rtmr1, rtmr2}}`` → 3-register measurement."""
    if not isinstance(predicate, Mapping):
        raise ProvenanceError(Code.PREDICATE_MEASUREMENT_INVALID, "predicate is not an object")
    tdx = predicate.get("tdx_measurement")
    if not isinstance(tdx, Mapping):
        raise ProvenanceError(
            Code.PREDICATE_MEASUREMENT_INVALID, "predicate tdx_measurement is not an object"
        )
    registers = (
        _register(predicate.get("snp_measurement"), "snp_measurement"),
        _register(tdx.get("rtmr1"), "tdx_measurement.rtmr1"),
        _register(tdx.get("rtmr2"), "tdx_measurement.rtmr2"),
    )
    try:
        return make_measurement(SNP_TDX_MULTIPLATFORM_V1, registers)
    except MeasurementError as exc:  # unreachable with three registers; keep the step right
        raise ProvenanceError(Code.PREDICATE_MEASUREMENT_INVALID, exc.message) from exc


__all__ = ["multiplatform_measurement"]
