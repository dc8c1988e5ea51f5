"""The shipped TDX production policy: its values, its modules, operator additions, the real quote.

Accepted and retired modules are exercised on synthetic quotes (our own PKI) through both
verifiers. The real Tinfoil quote carries the retired module 1.5.08.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from attestation import trustdata
from attestation.errors import AttestationError, Code, HardwareError
from attestation.policy import Policy
from attestation.tdx import IntelTrust, TdxPolicy, verify_tdx_evidence
from attestation.tdx.abi import parse_quote
from attestation.tdx.certs import PCK_CHAIN_CODES, load_pem_chain, parse_pck_extensions
from attestation.tdx.policy_data import parse_policy_table, production_table
from attestation.tdx.validate import check_td_policy
from tests.attestation import tdx_synth as synth
from tests.attestation.test_tdx_real import JAN_20, historic_policy, real_collateral, real_quote
from tests.conftest import data_path

ACCEPTED = ("1.5.16", "1.5.20", "1.5.24", "1.5.25", "2.0.08", "2.0.14")
RETIRED = ("1.5.08", "2.0.02")


def _published() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(
        data_path("trust", "tinfoil", "tdx-policy-2026-12.json").read_text()
    )
    return doc


@pytest.fixture(scope="module")
def pki() -> synth.Pki:
    return synth.Pki()


def test_shipped_table_is_the_published_policy() -> None:
    published = _published()
    table = production_table()
    assert (
        trustdata.read("tdx_policy.json")
        == data_path("trust", "tinfoil", "tdx-policy-2026-12.json").read_bytes()
    )
    assert tuple(m.version for m in table.accepted) == ACCEPTED
    assert tuple(m.version for m in table.retired) == RETIRED
    for version in ACCEPTED:
        expected = published["mr_seam_accepted"][version]["mr_seam"]
        assert table.mr_seam(version).hex() == expected
    assert table.min_tcb_evaluation_data_number == 19
    assert "tinfoil-python" in table.about and "tinfoil-go" in table.about


def test_production_policy_takes_every_value_from_the_table() -> None:
    table, policy = production_table(), TdxPolicy.production()
    assert policy.mr_seam_allowlist == tuple(m.mr_seam for m in table.accepted)
    assert policy.min_tcb_evaluation_data_number == table.min_tcb_evaluation_data_number == 19
    assert policy.min_tee_tcb_svn == bytes.fromhex(_published()["min_tee_tcb_svn"])
    assert policy.expected_td_attributes == bytes.fromhex(_published()["td_attributes"])
    assert policy.expected_xfam == bytes.fromhex(_published()["xfam"])
    assert policy.second_verifier_required
    assert not set(policy.mr_seam_allowlist or ()) & {m.mr_seam for m in table.retired}


def _verify_module(pki: synth.Pki, version: str, policy: TdxPolicy) -> object:
    quote = synth.build_quote(pki, body={"mr_seam": production_table().mr_seam(version)})
    return verify_tdx_evidence(
        quote,
        collateral=synth.build_collateral(pki),
        policy=policy,
        trust=pki.trust(),
        now=synth.NOW,
    )


@pytest.mark.parametrize("version", ACCEPTED)
def test_each_fleet_module_is_accepted(pki: synth.Pki, version: str) -> None:
    verified = _verify_module(pki, version, TdxPolicy.production())
    assert getattr(verified, "tcb_status", None) == "UpToDate"
    assert len(getattr(verified, "verifiers", ())) == 2  # both verifiers accepted it


@pytest.mark.parametrize("version", RETIRED)
def test_each_retired_module_is_refused(pki: synth.Pki, version: str) -> None:
    with pytest.raises(HardwareError) as err:
        _verify_module(pki, version, TdxPolicy.production())
    assert err.value.code is Code.MR_SEAM_NOT_ALLOWED
    assert f"TDX module {version}, retired" in err.value.message


def test_operator_can_add_a_module_and_it_is_logged_loudly(
    pki: synth.Pki, caplog: pytest.LogCaptureFixture
) -> None:
    retired = production_table().mr_seam("2.0.02")
    with caplog.at_level(logging.WARNING, logger="attestation.tdx.policy"):
        policy = Policy.production(tdx_mr_seam_allow=[retired]).tdx
    assert any(
        r.levelno == logging.WARNING and retired.hex() in r.getMessage() for r in caplog.records
    )
    assert _verify_module(pki, "2.0.02", policy) is not None
    with pytest.raises(ValueError):
        TdxPolicy.production(extra_mr_seams=[b"\x01" * 47])


def test_real_quote_is_refused_for_its_retired_module() -> None:
    # The TD policy alone, on the real quote body: the one reason is the module.
    quote = parse_quote(real_quote())
    pck = parse_pck_extensions(load_pem_chain(quote.pck_chain_pem, PCK_CHAIN_CODES)[0])
    with pytest.raises(HardwareError) as err:
        check_td_policy(quote, pck, TdxPolicy.production())
    assert err.value.code is Code.MR_SEAM_NOT_ALLOWED
    assert "1.5.08, retired" in err.value.message
    # The whole pipeline at 2026-01-20 under unchanged production policy: the module is
    # checked right after the quote's signatures, so it is the reason given, although the
    # collateral is also older than today's evaluation data number floor.
    with pytest.raises(HardwareError) as err:
        verify_tdx_evidence(
            real_quote(),
            collateral=real_collateral(),
            policy=TdxPolicy.production(),
            trust=IntelTrust.production(),
            now=JAN_20,
        )
    assert err.value.code is Code.MR_SEAM_NOT_ALLOWED
    assert "1.5.08, retired" in err.value.message
    # With 1.5.08 allowed again and nothing else changed, the collateral's number is next.
    module_allowed = TdxPolicy.production(extra_mr_seams=[production_table().mr_seam("1.5.08")])
    with pytest.raises(HardwareError) as err:
        verify_tdx_evidence(
            real_quote(),
            collateral=real_collateral(),
            policy=module_allowed,
            trust=IntelTrust.production(),
            now=JAN_20,
        )
    assert err.value.code is Code.TCB_EVAL_DATA_NUMBER_TOO_LOW


def test_real_quote_verifies_under_the_historic_policy() -> None:
    verified = verify_tdx_evidence(
        real_quote(),
        collateral=real_collateral(),
        policy=historic_policy(),
        trust=IntelTrust.production(),
        now=JAN_20,
    )
    assert (verified.tcb_status, verified.qv_result) == ("UpToDate", "OK")


def _mutated(change: Any) -> bytes:
    doc = _published()
    change(doc)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(extra=1),
        lambda d: d.pop("_about"),
        lambda d: d["mr_seam_accepted"]["1.5.16"].update(mr_seam="00" * 47),
        lambda d: d["mr_seam_retired"].update(d["mr_seam_accepted"]),
        lambda d: d.update(min_tcb_evaluation_data_number=True),
        lambda d: d.update(xfam="zz"),
        lambda d: d.update(mr_seam_accepted={}),
    ],
)
def test_a_malformed_table_fails_closed(change: Any) -> None:
    with pytest.raises(AttestationError) as err:
        parse_policy_table(_mutated(change))
    assert err.value.code is Code.TRUST_ROOT_INVALID
    with pytest.raises(AttestationError):
        parse_policy_table(b"not json")
