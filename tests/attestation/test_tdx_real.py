"""The real Tinfoil TDX quote with its real Intel PCS collateral (tests/data/SOURCES.md).

Verified through the public entry point with the *production* policy and trust, because the
conformance suite never tests production defaults (the conformance suite's own scope).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import urllib.parse

import pytest

from attestation.errors import Code, HardwareError
from attestation.models import TDX_GUEST_V2
from attestation.tdx import IntelTrust, PckCa, TdxCollateral, TdxPolicy, verify_tdx_evidence
from attestation.tdx.abi import parse_quote
from attestation.tdx.certs import PCK_CHAIN_CODES, load_pem_chain, parse_pck_extensions
from attestation.tdx.policy_data import production_table
from attestation.tdx.trust import INTEL_SGX_ROOT_CA_SPKI_SHA256, spki_sha256
from attestation.tdx.validate import check_td_policy
from tests.conftest import data_path

JAN_20 = dt.datetime(2026, 1, 20, tzinfo=dt.UTC)  # inside the collateral window


def historic_policy() -> TdxPolicy:
    """Production as it was when the real quote was taken: module 1.5.08 still accepted and
    Intel's evaluation data number 18 still current (the collateral's). Everything else,
    including the second verifier, is today's production policy."""
    return dataclasses.replace(
        TdxPolicy.production(extra_mr_seams=[production_table().mr_seam("1.5.08")]),
        min_tcb_evaluation_data_number=18,
    )


TODAY = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)  # TCB Info expired 2026-02-11


def _text(name: str) -> str:
    return data_path("attestation", "tdx", name).read_text()


def _bytes(name: str) -> bytes:
    return data_path("attestation", "tdx", name).read_bytes()


def real_quote() -> bytes:
    return _bytes("tdx_quote.bin")


def real_collateral() -> TdxCollateral:
    """Recipe of tests/data/SOURCES.md: JSON as served, issuer chains URL-decoded, CRLs as DER."""
    return TdxCollateral(
        tcb_info_json=_text("tcb_info_90c06f000000.json"),
        qe_identity_json=_text("qe_identity.json"),
        pck_crl=_bytes("pck_crl_platform.crl"),
        root_crl=_bytes("root_ca.crl"),
        tcb_info_issuer_chain=urllib.parse.unquote(_text("tcb_info_90c06f000000_chain.txt")),
        qe_identity_issuer_chain=urllib.parse.unquote(_text("qe_identity_chain.txt")),
        pck_crl_issuer_chain=urllib.parse.unquote(_text("pck_crl_platform_chain.txt")),
        pck_crl_ca=PckCa.PLATFORM,
    )


def _verify(now: dt.datetime, policy: TdxPolicy | None = None, **changes: object) -> object:
    collateral = dataclasses.replace(real_collateral(), **changes)  # type: ignore[arg-type]
    return verify_tdx_evidence(
        real_quote(),
        collateral=collateral,
        policy=policy or historic_policy(),
        trust=IntelTrust.production(),
        now=now,
    )


def test_real_quote_verifies_with_the_historic_policy_on_jan_20() -> None:
    result = verify_tdx_evidence(
        real_quote(),
        collateral=real_collateral(),
        policy=historic_policy(),
        trust=IntelTrust.production(),
        now=JAN_20,
    )
    assert result.qv_result == "OK"
    assert result.tcb_status == "UpToDate"
    assert result.fmspc == "90c06f000000"
    assert result.measurement.type == TDX_GUEST_V2
    assert len(result.measurement.registers) == 5
    assert result.measurement.registers[4] == "0" * 96  # RTMR3
    assert result.report_data[:4].hex() == "a23b0e77"  # TLS key fingerprint (tests/data/SOURCES.md)
    assert result.report_data[32:36].hex() == "d34fcf36"  # HPKE key (tests/data/SOURCES.md)
    assert result.tcb["tcb_evaluation_data_number"] == 18
    assert result.tcb["pce_svn"] == 13


def test_real_quote_is_rejected_today_for_expired_tcb_info() -> None:
    with pytest.raises(HardwareError) as err:
        _verify(TODAY)
    assert err.value.code is Code.TCB_INFO_EXPIRED


def test_tcb_info_expiry_is_exact_to_the_second() -> None:
    # TCB Info nextUpdate is 2026-02-11T15:46:45Z; QE Identity's is 16:03:13Z, later.
    last_valid = dt.datetime(2026, 2, 11, 15, 46, 45, tzinfo=dt.UTC)
    _verify(last_valid)
    with pytest.raises(HardwareError) as err:
        _verify(last_valid + dt.timedelta(seconds=1))
    assert err.value.code is Code.TCB_INFO_EXPIRED


def test_missing_tcb_info_chain_is_rejected() -> None:
    with pytest.raises(HardwareError) as err:
        _verify(JAN_20, tcb_info_issuer_chain=None)
    # An unauthenticated TCB Info means no verdict at all, not a broken chain.
    assert err.value.code is Code.QV_RESULT_TERMINAL_UNSPECIFIED


def test_swapped_qe_identity_chain_is_rejected() -> None:
    pck_chain = urllib.parse.unquote(_text("pck_crl_platform_chain.txt"))
    with pytest.raises(HardwareError) as err:
        _verify(JAN_20, qe_identity_issuer_chain=pck_chain)
    assert err.value.code is Code.QE_IDENTITY_SIGNATURE_INVALID


def test_processor_crl_does_not_cover_a_platform_pck() -> None:
    with pytest.raises(HardwareError) as err:
        _verify(JAN_20, pck_crl=_bytes("pck_crl_processor.crl"))
    assert err.value.code is Code.PCK_CHAIN_INVALID


def test_tcb_info_whitespace_change_breaks_the_signature() -> None:
    text = _text("tcb_info_90c06f000000.json").replace('"version":3', '"version": 3', 1)
    with pytest.raises(HardwareError) as err:
        _verify(JAN_20, tcb_info_json=text)
    assert err.value.code is Code.TCB_INFO_SIGNATURE_INVALID


def test_other_root_is_untrusted() -> None:
    pem = urllib.parse.unquote(_text("tcb_info_90c06f000000_chain.txt"))
    signing_cert_only = pem.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    with pytest.raises(HardwareError) as err:
        verify_tdx_evidence(
            real_quote(),
            collateral=real_collateral(),
            policy=historic_policy(),
            trust=IntelTrust.from_root_pem(signing_cert_only),
            now=JAN_20,
        )
    assert err.value.code is Code.ROOT_CA_UNTRUSTED


def test_production_eval_number_floor_is_enforced() -> None:
    assert TdxPolicy.production().min_tcb_evaluation_data_number == 19
    policy = dataclasses.replace(historic_policy(), min_tcb_evaluation_data_number=19)
    with pytest.raises(HardwareError) as err:
        _verify(JAN_20, policy)
    assert err.value.code is Code.TCB_EVAL_DATA_NUMBER_TOO_LOW


def test_narrowed_qv_results_reject() -> None:
    policy = dataclasses.replace(
        historic_policy(), accepted_qv_results=frozenset({"SW_HARDENING_NEEDED"})
    )
    with pytest.raises(HardwareError) as err:
        _verify(JAN_20, policy)
    assert err.value.code is Code.QV_RESULT_NOT_ACCEPTED_BY_POLICY


def test_intel_root_pin_matches_the_shared_root() -> None:
    from cryptography import x509

    pem = data_path("trust", "intel", "sgx_root_ca.pem").read_bytes()
    assert spki_sha256(x509.load_pem_x509_certificate(pem)) == INTEL_SGX_ROOT_CA_SPKI_SHA256
    chain = load_pem_chain(parse_quote(real_quote()).pck_chain_pem, PCK_CHAIN_CODES)
    assert IntelTrust.production().is_trusted_root(chain[-1])
    assert hashlib.sha256(pem).hexdigest() != INTEL_SGX_ROOT_CA_SPKI_SHA256  # key pin, not file


# --- production TD policy on the real quote (docs/attestation.md V3.4), one field at a time


def _body_change(**changes: bytes) -> None:
    quote = parse_quote(real_quote())
    quote = dataclasses.replace(quote, body=dataclasses.replace(quote.body, **changes))  # type: ignore[arg-type]
    pck = parse_pck_extensions(load_pem_chain(quote.pck_chain_pem, PCK_CHAIN_CODES)[0])
    check_td_policy(quote, pck, historic_policy())


def test_production_policy_accepts_the_real_body() -> None:
    _body_change()
    assert parse_quote(real_quote()).body.mr_seam == production_table().mr_seam("1.5.08")


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"td_attributes": bytes.fromhex("0100001000000000")}, Code.TD_ATTRIBUTES_DEBUG_SET),
        ({"td_attributes": bytes.fromhex("0000002000000000")}, Code.TD_ATTRIBUTES_RESERVED_BIT_SET),
        ({"td_attributes": bytes.fromhex("0000005000000000")}, Code.TD_ATTRIBUTES_MISMATCH),
        ({"xfam": bytes.fromhex("e700060000000000")}, Code.XFAM_MISMATCH),
        ({"xfam": bytes.fromhex("e402060000000000")}, Code.XFAM_REQUIRED_BIT_CLEAR),
        ({"mr_signer_seam": b"\x01" * 48}, Code.MR_SIGNER_SEAM_MISMATCH),
        ({"seam_attributes": b"\x00" * 7 + b"\x01"}, Code.SEAM_ATTRIBUTES_MISMATCH),
        ({"mr_seam": b"\x11" * 48}, Code.MR_SEAM_NOT_ALLOWED),
        ({"mr_config_id": b"\x01" * 48}, Code.MR_CONFIG_ID_MISMATCH),
        ({"mr_owner": b"\x01" * 48}, Code.MR_OWNER_MISMATCH),
        ({"mr_owner_config": b"\x01" * 48}, Code.MR_OWNER_CONFIG_MISMATCH),
        (
            {"tee_tcb_svn": bytes.fromhex("03000900000000000000000000000000")},
            Code.TEE_TCB_SVN_BELOW_MINIMUM,
        ),
    ],
)
def test_production_policy_rejects(changes: dict[str, bytes], code: Code) -> None:
    with pytest.raises(HardwareError) as err:
        _body_change(**changes)
    assert err.value.code is code


def test_production_policy_rejects_nonzero_rtmr3() -> None:
    rtmrs = parse_quote(real_quote()).body.rtmrs
    with pytest.raises(HardwareError) as err:
        _body_change(rtmrs=(*rtmrs[:3], b"\x01" * 48))  # type: ignore[arg-type]
    assert err.value.code is Code.RTMR3_NONZERO
