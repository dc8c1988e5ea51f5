"""Measurement construction and comparison (docs/attestation.md V5).

Pure functions over :class:`attestation.models.Measurement`; they raise
:class:`attestation.errors.MeasurementError` and never return booleans.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from attestation.errors import Code, MeasurementError
from attestation.models import (
    SEV_SNP_GUEST_V2,
    SNP_TDX_MULTIPLATFORM_V1,
    TDX_GUEST_V2,
    Measurement,
)

#: Register count per measurement type URI (V5).
REGISTER_COUNTS: Final[dict[str, int]] = {
    SEV_SNP_GUEST_V2: 1,
    TDX_GUEST_V2: 5,
    SNP_TDX_MULTIPLATFORM_V1: 3,
}

#: An all-zero 48-byte RTMR, as lowercase hex.
ZERO_RTMR: Final = "0" * 96


def make_measurement(type_uri: str, registers: Iterable[str]) -> Measurement:
    """Build a measurement: lowercase every register, check the type and register count."""
    regs = tuple(r.lower() for r in registers)
    expected = REGISTER_COUNTS.get(type_uri)
    if expected is None:
        raise MeasurementError(
            Code.MEASUREMENT_TYPE_UNKNOWN, f"unknown measurement type {type_uri!r}"
        )
    if len(regs) != expected:
        raise MeasurementError(
            Code.MEASUREMENT_REGISTER_COUNT_INVALID,
            f"{type_uri} needs {expected} registers, got {len(regs)}",
        )
    return Measurement(type=type_uri, registers=regs)


def _checked(m: Measurement) -> Measurement:
    """Re-validate a measurement built elsewhere (type known, count right, lowercase)."""
    return make_measurement(m.type, m.registers)


def _compare_mp_tdx(mp: Measurement, tdx: Measurement) -> None:
    # V5: MP [snp, rtmr1, rtmr2] vs TDX [mrtd, rtmr0, rtmr1, rtmr2, rtmr3]. MRTD/RTMR0 are
    # covered by the hardware-measurements match (V4.3), RTMR3 must be all zero.
    if mp.registers[1] != tdx.registers[2] or mp.registers[2] != tdx.registers[3]:
        raise MeasurementError(
            Code.MEASUREMENT_MISMATCH, "multiplatform rtmr1/rtmr2 differ from the TDX RTMR1/RTMR2"
        )
    if tdx.registers[4] != ZERO_RTMR:
        raise MeasurementError(Code.MEASUREMENT_RTMR3_NONZERO, "TDX RTMR3 is not all zero")


def _compare_mp_sev(mp: Measurement, sev: Measurement) -> None:
    if mp.registers[0] != sev.registers[0]:
        raise MeasurementError(
            Code.MEASUREMENT_MISMATCH,
            "multiplatform snp_measurement differs from the SEV-SNP report",
        )


def compare_measurements(a: Measurement, b: Measurement) -> None:
    """Raise unless ``a`` and ``b`` describe the same code (symmetric, V5)."""
    a = _checked(a)
    b = _checked(b)
    if a.type == b.type:
        if a.registers != b.registers:
            raise MeasurementError(Code.MEASUREMENT_MISMATCH, f"{a.type} registers differ")
        return
    pair = {a.type: a, b.type: b}
    mp = pair.get(SNP_TDX_MULTIPLATFORM_V1)
    if mp is not None and TDX_GUEST_V2 in pair:
        _compare_mp_tdx(mp, pair[TDX_GUEST_V2])
        return
    if mp is not None and SEV_SNP_GUEST_V2 in pair:
        _compare_mp_sev(mp, pair[SEV_SNP_GUEST_V2])
        return
    raise MeasurementError(
        Code.MEASUREMENT_TYPE_COMBINATION_UNSUPPORTED,
        f"cannot compare {a.type} with {b.type}",
    )


__all__ = ["REGISTER_COUNTS", "ZERO_RTMR", "compare_measurements", "make_measurement"]
