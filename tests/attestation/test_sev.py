"""SEV-SNP parse / chain / signature / policy on the real Genoa data, plus one mutation per code."""

from __future__ import annotations

import dataclasses
import datetime as dt
import struct
from typing import Any

import pytest

from attestation.errors import AttestationError, Code
from attestation.sev import SevPolicy, TcbMinimum, parse_report, verify_sev_evidence
from attestation.sev.abi import Product, decode_tcb
from attestation.sev.validate import validate_report
from tests.attestation.realdata import (
    FIXED_NOW,
    REAL_MEASUREMENT,
    flip,
    patch,
    pinned_amd,
    real_bundle,
    report_of,
    second_report,
    sign_report,
    synth_amd,
    synth_base_report,
    synth_vcek_der,
    vcek_of,
)


def _verify(
    report: bytes, vcek: bytes, *, now: dt.datetime = FIXED_NOW, policy: SevPolicy | None = None
) -> None:
    verify_sev_evidence(
        report, vcek, policy=policy or SevPolicy.production(), trust=pinned_amd(), now=now
    )


def _code(exc: pytest.ExceptionInfo[AttestationError]) -> Code:
    return exc.value.code


def test_parse_real_report_fields() -> None:
    r = parse_report(report_of(real_bundle()))
    assert r.version == 3
    assert r.product is Product.GENOA
    assert r.cpuid_fms == (0x19, 0x11, 0x01)
    assert r.policy == 0x30000
    assert r.measurement.hex() == REAL_MEASUREMENT
    assert r.current_tcb.components() == {
        "bl_spl": 10,
        "tee_spl": 0,
        "snp_spl": 23,
        "ucode_spl": 84,
    }
    assert r.reported_tcb_raw == r.committed_tcb_raw == r.launch_tcb_raw == r.current_tcb_raw
    assert (r.current_version.major, r.current_version.minor, r.current_version.build) == (
        1,
        55,
        40,
    )
    assert r.committed_version == r.current_version
    assert r.signing_key == 0 and not r.mask_chip_key


def test_turin_tcb_layout() -> None:
    raw = int.from_bytes(bytes([1, 2, 3, 4, 0, 0, 0, 9]), "little")
    tcb = decode_tcb(raw, Product.TURIN)
    assert (tcb.fmc_spl, tcb.bl_spl, tcb.tee_spl, tcb.snp_spl, tcb.ucode_spl) == (1, 2, 3, 4, 9)
    genoa = decode_tcb(raw, Product.GENOA)
    assert (genoa.bl_spl, genoa.tee_spl, genoa.snp_spl, genoa.ucode_spl) == (1, 2, 0, 9)


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda r: r[:-1], Code.REPORT_TRUNCATED),
        (lambda r: r + b"\0", Code.REPORT_FORMAT_UNSUPPORTED),
        (lambda r: patch(r, 0, struct.pack("<I", 1)), Code.WRONG_REPORT_VERSION),
        (lambda r: patch(r, 0, struct.pack("<I", 6)), Code.WRONG_REPORT_VERSION),
        (lambda r: patch(r, 0x34, struct.pack("<I", 2)), Code.REPORT_FORMAT_UNSUPPORTED),
        (lambda r: patch(r, 0x48, struct.pack("<I", 1 << 5)), Code.SIGNER_INFO_INVALID),
        (lambda r: patch(r, 0x48, struct.pack("<I", 3 << 2)), Code.SIGNER_INFO_INVALID),
        (lambda r: patch(r, 0x200, b"\1"), Code.REPORT_FORMAT_UNSUPPORTED),
        (lambda r: patch(r, 0x189, b"\x99"), Code.REPORT_FORMAT_UNSUPPORTED),
        (lambda r: patch(r, 0x2A0 + 144, b"\1"), Code.REPORT_FORMAT_UNSUPPORTED),
    ],
)
def test_parse_rejects_format_errors(mutate: object, code: Code) -> None:
    assert callable(mutate)
    with pytest.raises(AttestationError) as exc:
        parse_report(mutate(report_of(real_bundle())))
    assert _code(exc) is code


def test_real_report_verifies_with_production_policy() -> None:
    bundle = real_bundle()
    _verify(report_of(bundle), vcek_of(bundle))


def test_real_report_verifies_today() -> None:
    # Not hermetic on purpose: the issue requires the real bundle to verify at today's date.
    bundle = real_bundle()
    _verify(report_of(bundle), vcek_of(bundle), now=dt.datetime.now(dt.UTC))


def test_second_real_report_verifies_with_bundle_vcek() -> None:
    result = verify_sev_evidence(
        second_report(),
        vcek_of(real_bundle()),
        policy=SevPolicy.production(),
        trust=pinned_amd(),
        now=FIXED_NOW,
    )
    assert result.report.measurement.hex().startswith("2dedaee1")
    assert result.report_data[:4].hex() == "10ca8543"
    assert result.report_data[32:36].hex() == "be5a9c84"


@pytest.mark.parametrize(
    ("offset", "code"),
    [
        (0x2A0, Code.REPORT_SIGNATURE_INVALID),  # signature r
        (0x90, Code.REPORT_SIGNATURE_INVALID),  # measurement (signed region)
        (0x50, Code.REPORT_SIGNATURE_INVALID),  # report_data
        (0x1A0, Code.VCEK_HWID_MISMATCH),  # chip id no longer the VCEK's HWID
        (0x180, Code.VCEK_TCB_MISMATCH),  # reported TCB no longer the VCEK's
    ],
)
def test_real_report_byte_flips(offset: int, code: Code) -> None:
    bundle = real_bundle()
    with pytest.raises(AttestationError) as exc:
        _verify(flip(report_of(bundle), offset), vcek_of(bundle))
    assert _code(exc) is code


@pytest.mark.parametrize(
    ("offset", "code"), [(0, Code.VCEK_CHAIN_INVALID), (-8, Code.VCEK_CHAIN_INVALID)]
)
def test_vcek_byte_flips(offset: int, code: Code) -> None:
    bundle = real_bundle()
    vcek = vcek_of(bundle)
    with pytest.raises(AttestationError) as exc:
        _verify(report_of(bundle), flip(vcek, offset % len(vcek)))
    assert _code(exc) is code


@pytest.mark.parametrize(
    "when",
    [dt.datetime(2034, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 1, tzinfo=dt.UTC)],
)
def test_vcek_outside_validity(when: dt.datetime) -> None:
    bundle = real_bundle()
    with pytest.raises(AttestationError) as exc:
        _verify(report_of(bundle), vcek_of(bundle), now=when)
    assert _code(exc) is Code.VCEK_EXPIRED


def test_ark_expiry_is_checked() -> None:
    bundle = real_bundle()
    with pytest.raises(AttestationError) as exc:
        _verify(report_of(bundle), vcek_of(bundle), now=dt.datetime(2021, 1, 1, tzinfo=dt.UTC))
    assert _code(exc) is Code.ARK_UNTRUSTED


def test_real_report_rejected_by_synthetic_roots() -> None:
    bundle = real_bundle()
    with pytest.raises(AttestationError) as exc:
        verify_sev_evidence(
            report_of(bundle),
            vcek_of(bundle),
            policy=SevPolicy.production(),
            trust=synth_amd(),
            now=FIXED_NOW,
        )
    assert _code(exc) is Code.VCEK_CHAIN_INVALID


def test_tcb_minimum_pin() -> None:
    bundle = real_bundle()
    policy = dataclasses.replace(SevPolicy.production(), min_tcb=TcbMinimum(bl_spl=11))
    with pytest.raises(AttestationError) as exc:
        _verify(report_of(bundle), vcek_of(bundle), policy=policy)
    assert _code(exc) is Code.TCB_OUT_OF_DATE


def test_synthetic_resigned_report_verifies() -> None:
    # Sanity for the mutation tests below: re-signing alone changes nothing.
    raw = sign_report(synth_base_report())
    verify_sev_evidence(
        raw, synth_vcek_der(), policy=SevPolicy.production(), trust=synth_amd(), now=FIXED_NOW
    )


@pytest.mark.parametrize(
    ("offset", "value", "code"),
    [
        (0x08, struct.pack("<Q", 0x30000 | 1 << 19), Code.GUEST_POLICY_DEBUG_SET),
        (0x08, struct.pack("<Q", 0x30000 | 1 << 18), Code.GUEST_POLICY_MIGRATE_MA_SET),
        (0x08, struct.pack("<Q", 0x10000), Code.GUEST_POLICY_RESERVED_BIT_SET),
        (0x08, struct.pack("<Q", 0x30000 | 1 << 30), Code.GUEST_POLICY_RESERVED_BIT_SET),
        (0x08, struct.pack("<Q", 0x30000 | 1 << 21), Code.GUEST_POLICY_UNAUTHORIZED),
        (0x08, struct.pack("<Q", 0x30000 | 1 << 22), Code.GUEST_POLICY_UNAUTHORIZED),
        (0x40, struct.pack("<Q", 0x25), Code.PLATFORM_INFO_INVALID),  # TSME off
        (0x48, struct.pack("<I", 1 << 2), Code.SIGNER_INFO_INVALID),  # VLEK
        (0x48, struct.pack("<I", 1 << 1), Code.SIGNER_INFO_INVALID),  # masked chip id
        (0x1E8, bytes([20, 55, 1]), Code.FIRMWARE_OUT_OF_DATE),  # build 20 < 21
        (0x1EC, bytes([40, 54, 1]), Code.FIRMWARE_OUT_OF_DATE),  # committed API 1.54
        (0x1EC, bytes([41, 55, 1]), Code.PROVISIONAL_FIRMWARE),  # committed != current
        (0x38, bytes([6, 0, 0, 0, 0, 0, 0x17, 0x54]), Code.PROVISIONAL_FIRMWARE),
        (0x1F0, bytes([10, 0, 0, 0, 0, 0, 13, 0x54]), Code.TCB_OUT_OF_DATE),  # launch SNP 13 < 14
    ],
)
def test_policy_violations_on_signed_reports(offset: int, value: bytes, code: Code) -> None:
    raw = sign_report(patch(synth_base_report(), offset, value))
    with pytest.raises(AttestationError) as exc:
        verify_sev_evidence(
            raw, synth_vcek_der(), policy=SevPolicy.production(), trust=synth_amd(), now=FIXED_NOW
        )
    assert _code(exc) is code


def test_current_and_committed_tcb_below_minimum() -> None:
    low = bytes([6, 0, 0, 0, 0, 0, 0x17, 0x54])  # bootloader 6 < 7
    raw = patch(patch(synth_base_report(), 0x38, low), 0x1E0, low)
    with pytest.raises(AttestationError) as exc:
        validate_report(parse_report(raw), SevPolicy.production())
    assert _code(exc) is Code.TCB_OUT_OF_DATE


@pytest.mark.parametrize(
    ("field", "code"),
    [
        ("expected_measurement", Code.MEASUREMENT_MISMATCH),
        ("expected_host_data", Code.HOST_DATA_MISMATCH),
        ("expected_report_data", Code.REPORT_DATA_MISMATCH),
        ("expected_id_key_digest", Code.ID_KEY_DIGEST_MISMATCH),
        ("expected_author_key_digest", Code.AUTHOR_KEY_DIGEST_MISMATCH),
    ],
)
def test_pins(field: str, code: Code) -> None:
    report = parse_report(report_of(real_bundle()))
    actual = {
        "expected_measurement": report.measurement,
        "expected_host_data": report.host_data,
        "expected_report_data": report.report_data,
        "expected_id_key_digest": report.id_key_digest,
        "expected_author_key_digest": report.author_key_digest,
    }[field]
    same: dict[str, Any] = {field: actual}
    wrong: dict[str, Any] = {field: flip(actual, 0)}
    validate_report(report, dataclasses.replace(SevPolicy.production(), **same))
    with pytest.raises(AttestationError) as exc:
        validate_report(report, dataclasses.replace(SevPolicy.production(), **wrong))
    assert _code(exc) is code
