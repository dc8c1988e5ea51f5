"""Rejection paths the conformance vectors do not cover, on a synthetic but fully signed PKI.

Each test changes one thing relative to a baseline that verifies under the production policy
(`tdx_synth`) and asserts the precise code.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from attestation.errors import Code, HardwareError
from attestation.tdx import TdxCollateral, TdxPolicy, VerifiedTdxQuote, verify_tdx_evidence
from tests.attestation import tdx_synth as synth

# The full production policy: every accepted quote here is accepted by both TDX verifiers.
PRODUCTION = TdxPolicy.production()


@pytest.fixture(scope="module")
def pki() -> synth.Pki:
    return synth.Pki()


def _run(
    pki: synth.Pki,
    quote: bytes | None = None,
    collateral: TdxCollateral | None = None,
    policy: TdxPolicy = PRODUCTION,
) -> VerifiedTdxQuote:
    return verify_tdx_evidence(
        quote if quote is not None else synth.build_quote(pki),
        collateral=collateral if collateral is not None else synth.build_collateral(pki),
        policy=policy,
        trust=pki.trust(),
        now=synth.NOW,
    )


def _code(pki: synth.Pki, **kwargs: Any) -> Code:
    with pytest.raises(HardwareError) as err:
        _run(pki, **kwargs)
    return err.value.code


def _tcb(mutate: synth.Mutator, pki: synth.Pki) -> TdxCollateral:
    return synth.build_collateral(pki, tcb=mutate)


def _qe(mutate: synth.Mutator, pki: synth.Pki) -> TdxCollateral:
    return synth.build_collateral(pki, qe=mutate)


def test_baseline_verifies_under_production_policy(pki: synth.Pki) -> None:
    result = _run(pki)
    assert (result.tcb_status, result.qv_result) == ("UpToDate", "OK")
    assert result.measurement.registers[0] == "11" * 48


# --- revocation -------------------------------------------------------------------------------


def test_revoked_pck_leaf(pki: synth.Pki) -> None:
    collateral = synth.build_collateral(pki, pck_revoked=(pki.leaf.serial_number,))
    assert _code(pki, collateral=collateral) is Code.PCK_REVOKED


def test_revoked_tcb_signing_cert(pki: synth.Pki) -> None:
    collateral = synth.build_collateral(pki, root_revoked=(pki.tcb_cert.serial_number,))
    assert _code(pki, collateral=collateral) is Code.INTERMEDIATE_REVOKED


def test_pck_crl_of_another_ca(pki: synth.Pki) -> None:
    other = synth.crl("Intel SGX PCK Processor CA", pki.ca_key)
    collateral = dataclasses.replace(synth.build_collateral(pki), pck_crl=other)
    assert _code(pki, collateral=collateral) is Code.PCK_CHAIN_INVALID


def test_pck_crl_signed_by_the_root_instead_of_the_ca(pki: synth.Pki) -> None:
    forged = synth.crl(synth.PLATFORM_CN, pki.root_key)
    collateral = dataclasses.replace(synth.build_collateral(pki), pck_crl=forged)
    assert _code(pki, collateral=collateral) is Code.PCK_CHAIN_INVALID


# --- platform TCB level and status policy (docs/attestation.md V3.3 steps 9, 12) ---------------


def _status(status: str) -> synth.Mutator:
    def mutate(body: dict[str, Any]) -> None:
        body["tcbLevels"][0]["tcbStatus"] = status

    return mutate


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("Revoked", Code.TCB_REVOKED),
        ("OutOfDate", Code.QV_RESULT_NOT_ACCEPTED_BY_POLICY),
        ("OutOfDateConfigurationNeeded", Code.QV_RESULT_NOT_ACCEPTED_BY_POLICY),
        ("TDRelaunchAdvised", Code.QV_RESULT_NOT_ACCEPTED_BY_POLICY),
        ("SomethingNew", Code.QV_RESULT_TERMINAL_UNSPECIFIED),
    ],
)
def test_platform_status_rejections(pki: synth.Pki, status: str, code: Code) -> None:
    assert _code(pki, collateral=_tcb(_status(status), pki)) is code


@pytest.mark.parametrize(
    ("status", "qv_result"),
    [
        ("SWHardeningNeeded", "SW_HARDENING_NEEDED"),
        ("ConfigurationNeeded", "CONFIG_NEEDED"),
        ("ConfigurationAndSWHardeningNeeded", "CONFIG_AND_SW_HARDENING_NEEDED"),
    ],
)
def test_non_terminal_statuses_accepted(pki: synth.Pki, status: str, qv_result: str) -> None:
    result = _run(pki, collateral=_tcb(_status(status), pki))
    assert (result.tcb_status, result.qv_result) == (status, qv_result)
    narrowed = dataclasses.replace(PRODUCTION, accepted_qv_results=frozenset({"OK"}))
    code = _code(pki, collateral=_tcb(_status(status), pki), policy=narrowed)
    assert code is Code.QV_RESULT_NOT_ACCEPTED_BY_POLICY


def test_no_matching_level(pki: synth.Pki) -> None:
    def higher_pcesvn(body: dict[str, Any]) -> None:
        body["tcbLevels"][0]["tcb"]["pcesvn"] = synth.PCE_SVN + 1

    assert _code(pki, collateral=_tcb(higher_pcesvn, pki)) is Code.QV_RESULT_TERMINAL_UNSPECIFIED


def test_first_matching_level_wins(pki: synth.Pki) -> None:
    def newer_unreachable_level(body: dict[str, Any]) -> None:
        level = dict(body["tcbLevels"][0])
        level["tcb"] = dict(level["tcb"], pcesvn=99)
        body["tcbLevels"][0]["tcbStatus"] = "SWHardeningNeeded"
        body["tcbLevels"].insert(0, level)  # newest first; not met by the platform

    assert (
        _run(pki, collateral=_tcb(newer_unreachable_level, pki)).qv_result == "SW_HARDENING_NEEDED"
    )


def _tdx_component(index: int, svn: int) -> synth.Mutator:
    def mutate(body: dict[str, Any]) -> None:
        body["tcbLevels"][0]["tcb"]["tdxtcbcomponents"][index]["svn"] = svn

    return mutate


def test_module_svn_bytes_are_skipped_when_module_major_is_set(pki: synth.Pki) -> None:
    # TEE_TCB_SVN[1] = 1: bytes 0 and 1 are judged by the module identity, not the level
    assert _run(pki, collateral=_tcb(_tdx_component(0, 99), pki)).qv_result == "OK"
    assert _code(pki, collateral=_tcb(_tdx_component(2, 99), pki)) is (
        Code.QV_RESULT_TERMINAL_UNSPECIFIED
    )


def test_module_svn_bytes_count_when_module_major_is_zero(pki: synth.Pki) -> None:
    quote = synth.build_quote(pki, body={"tee_tcb_svn": bytes([5, 0, 3]) + bytes(13)})
    policy = dataclasses.replace(PRODUCTION, min_tee_tcb_svn=None)
    assert _run(pki, quote=quote, policy=policy).qv_result == "OK"  # tdxModule path
    code = _code(pki, quote=quote, collateral=_tcb(_tdx_component(0, 6), pki), policy=policy)
    assert code is Code.QV_RESULT_TERMINAL_UNSPECIFIED


# --- TDX module identity (step 10) ------------------------------------------------------------


def _module(**changes: Any) -> synth.Mutator:
    def mutate(body: dict[str, Any]) -> None:
        body["tdxModuleIdentities"][0].update(changes)

    return mutate


def test_module_identity_missing(pki: synth.Pki) -> None:
    code = _code(pki, collateral=_tcb(_module(id="TDX_02"), pki))
    assert code is Code.QV_RESULT_TERMINAL_UNSPECIFIED


def test_module_mrsigner_mismatch(pki: synth.Pki) -> None:
    code = _code(pki, collateral=_tcb(_module(mrsigner="01" * 48), pki))
    assert code is Code.MR_SIGNER_SEAM_MISMATCH


def test_module_attributes_mismatch_under_mask(pki: synth.Pki) -> None:
    assert _code(pki, collateral=_tcb(_module(attributes="01" + "00" * 7), pki)) is (
        Code.SEAM_ATTRIBUTES_MISMATCH
    )
    masked_out = _module(attributes="01" + "00" * 7, attributesMask="FE" + "FF" * 7)
    assert _run(pki, collateral=_tcb(masked_out, pki)).qv_result == "OK"


@pytest.mark.parametrize(
    ("module_svn", "code"),
    [(3, Code.QV_RESULT_NOT_ACCEPTED_BY_POLICY), (1, Code.QV_RESULT_NOT_ACCEPTED_BY_POLICY)],
)
def test_module_out_of_date(pki: synth.Pki, module_svn: int, code: Code) -> None:
    # svn 3 matches the OutOfDate level (isvsvn 2); svn 1 is below every level
    quote = synth.build_quote(pki, body={"tee_tcb_svn": bytes([module_svn, 1, 3]) + bytes(13)})
    policy = dataclasses.replace(PRODUCTION, min_tee_tcb_svn=None)
    assert _code(pki, quote=quote, policy=policy) is code


# --- QE identity (step 11) --------------------------------------------------------------------


def test_qe_identity_checks(pki: synth.Pki) -> None:
    assert _code(pki, quote=synth.build_quote(pki, qe_mr_signer=b"\x01" * 32)) is (
        Code.QE_IDENTITY_MRSIGNER_MISMATCH
    )
    assert _code(pki, quote=synth.build_quote(pki, qe_isv_prod_id=3)) is (
        Code.QE_IDENTITY_FIELD_MISMATCH
    )
    assert _code(pki, quote=synth.build_quote(pki, qe_attributes=b"\x13" + bytes(15))) is (
        Code.QE_IDENTITY_FIELD_MISMATCH
    )
    # bit 2 of the first attribute byte is masked out (FB): a change there is accepted
    assert (
        _run(pki, quote=synth.build_quote(pki, qe_attributes=b"\x15" + bytes(15))).qv_result == "OK"
    )
    assert (
        _code(pki, quote=synth.build_quote(pki, qe_isv_svn=3))
        is Code.QV_RESULT_NOT_ACCEPTED_BY_POLICY
    )


def test_qe_level_revoked(pki: synth.Pki) -> None:
    def revoked(body: dict[str, Any]) -> None:
        body["tcbLevels"][0]["tcbStatus"] = "Revoked"

    assert _code(pki, collateral=_qe(revoked, pki)) is Code.TCB_REVOKED


def test_qe_identity_version(pki: synth.Pki) -> None:
    def version_3(body: dict[str, Any]) -> None:
        body["version"] = 3

    assert _code(pki, collateral=_qe(version_3, pki)) is Code.QE_IDENTITY_VERSION_INVALID


# --- collateral documents ---------------------------------------------------------------------


def test_tcb_info_for_another_fmspc(pki: synth.Pki) -> None:
    def other(body: dict[str, Any]) -> None:
        body["fmspc"] = "00a06d080000"

    assert _code(pki, collateral=_tcb(other, pki)) is Code.PCK_FMSPC_MISMATCH


def test_policy_fmspc_pin(pki: synth.Pki) -> None:
    policy = dataclasses.replace(PRODUCTION, expected_fmspc=bytes.fromhex("00a06d080000"))
    assert _code(pki, policy=policy) is Code.PCK_FMSPC_MISMATCH
    same = dataclasses.replace(PRODUCTION, expected_fmspc=synth.FMSPC)
    assert _run(pki, policy=same).fmspc == synth.FMSPC.hex()


def test_tcb_info_signed_by_an_unchained_key(pki: synth.Pki) -> None:
    stranger = synth.Pki()
    collateral = dataclasses.replace(
        synth.build_collateral(pki), tcb_info_json=synth.build_collateral(stranger).tcb_info_json
    )
    assert _code(pki, collateral=collateral) is Code.TCB_INFO_SIGNATURE_INVALID


def test_duplicate_json_member_is_malformed(pki: synth.Pki) -> None:
    text = synth.build_collateral(pki).tcb_info_json
    doubled = text[:-1] + ',"signature":"00"}'
    collateral = dataclasses.replace(synth.build_collateral(pki), tcb_info_json=doubled)
    assert _code(pki, collateral=collateral) is Code.BUNDLE_MALFORMED


# --- PCK chain and quote structure ------------------------------------------------------------


def test_two_certificate_chain_is_incomplete(pki: synth.Pki) -> None:
    short = dataclasses.replace(pki)
    short.chain = [pki.leaf, pki.ca]
    assert _code(short, quote=synth.build_quote(short)) is Code.PCK_CHAIN_INCOMPLETE


def test_intermediate_without_ca_flag(pki: synth.Pki) -> None:
    bad = dataclasses.replace(pki)
    bad.chain = [
        pki.leaf,
        synth.make_cert(
            synth.PLATFORM_CN, pki.ca_key, synth.ROOT_CN, pki.root_key, ca=False, serial=9
        ),
        pki.root,
    ]
    assert _code(bad, quote=synth.build_quote(bad)) is Code.PCK_CHAIN_INVALID


def test_certification_data_type_5_alone_is_unsupported(pki: synth.Pki) -> None:
    assert _code(pki, quote=synth.build_quote(pki, cert_type=5)) is Code.QUOTE_FORMAT_UNSUPPORTED


def test_quote_version_5_is_unsupported(pki: synth.Pki) -> None:
    quote = bytearray(synth.build_quote(pki))
    quote[0:2] = struct.pack("<H", 5)
    assert _code(pki, quote=bytes(quote)) is Code.QUOTE_FORMAT_UNSUPPORTED


def test_attestation_key_off_curve(pki: synth.Pki) -> None:
    quote = bytearray(synth.build_quote(pki))
    quote[0x27C + 64 : 0x27C + 128] = b"\x01" * 64  # not a P-256 point
    assert _code(pki, quote=bytes(quote)) is Code.QUOTE_SIGNATURE_INVALID


def test_inner_size_mismatch_is_unsupported(pki: synth.Pki) -> None:
    quote = synth.build_quote(pki) + b"\x00" * 8
    signed_size = struct.unpack_from("<I", quote, 0x278)[0]
    grown = bytearray(quote)
    grown[0x278:0x27C] = struct.pack("<I", signed_size + 8)  # outer grows, inner sizes do not
    assert _code(pki, quote=bytes(grown)) is Code.QUOTE_FORMAT_UNSUPPORTED


def test_p384_pck_key_is_rejected() -> None:
    pki = synth.Pki(pck_key=ec.generate_private_key(ec.SECP384R1()))
    assert _code(pki, quote=synth.build_quote(pki)) is Code.QE_REPORT_SIGNATURE_INVALID
