"""The second, independent TDX verdict (dcap-qvl): both verifiers must accept and agree.

The real Tinfoil quote and its real Intel collateral go through both verifiers (dcap-qvl for
real). Disagreements: a collateral mutation only dcap-qvl catches (a re-signed CRL without
extensions), an injected fake second verdict (a rejection, or another TCB status), and the
dcap-qvl package missing.
"""

from __future__ import annotations

import builtins
import dataclasses
from typing import Any

import pytest

from attestation.errors import Code, HardwareError
from attestation.sdk import dcap_qvl_label
from attestation.tdx import IntelTrust, TdxPolicy, verify_tdx_evidence
from attestation.tdx.second_verdict import (
    SecondInput,
    SecondVerdict,
    dcap_qvl_verdict,
)
from tests.attestation import tdx_synth as synth
from tests.attestation.test_tdx_real import JAN_20, historic_policy, real_collateral, real_quote


def _verify(**kwargs: Any) -> Any:
    return verify_tdx_evidence(
        real_quote(),
        collateral=real_collateral(),
        policy=historic_policy(),
        trust=IntelTrust.production(),
        now=JAN_20,
        **kwargs,
    )


def _real_input() -> SecondInput:
    collateral = real_collateral()
    assert collateral.pck_crl_issuer_chain is not None
    return SecondInput(
        quote=real_quote(),
        collateral=collateral,
        pck_crl_issuer_chain_pem=collateral.pck_crl_issuer_chain,
        root_der=None,
        now=JAN_20,
    )


def test_both_verifiers_accept_the_real_quote_and_are_named() -> None:
    verified = _verify()
    assert verified.tcb_status == "UpToDate"
    assert len(verified.verifiers) == 2
    ours, theirs = verified.verifiers
    assert ours.startswith("privproxy-attestation ") and ours.endswith("accepted (UpToDate)")
    assert theirs == f"{dcap_qvl_label()} accepted (UpToDate)"
    assert dcap_qvl_label().startswith("dcap-qvl 0.")


def test_dcap_qvl_alone_on_the_real_quote() -> None:
    verdict = dcap_qvl_verdict(_real_input())
    assert (verdict.accepted, verdict.tcb_status) == (True, "UpToDate")


def test_dcap_qvl_rejects_expired_collateral_on_its_own() -> None:
    later = dataclasses.replace(_real_input(), now=JAN_20.replace(year=2027))
    verdict = dcap_qvl_verdict(later)
    assert not verdict.accepted and verdict.tcb_status is None and verdict.detail


@pytest.mark.parametrize(
    ("fake", "shown"),
    [
        (SecondVerdict("fake-qvl 1.0", False, None, "TCB Info expired"), "rejected: TCB Info"),
        (SecondVerdict("fake-qvl 1.0", True, "OutOfDate"), "accepted (OutOfDate)"),
    ],
)
def test_a_disagreement_is_a_rejection_with_both_verdicts(fake: SecondVerdict, shown: str) -> None:
    seen: list[SecondInput] = []

    def second(given: SecondInput) -> SecondVerdict:
        seen.append(given)
        return fake

    with pytest.raises(HardwareError) as err:
        _verify(second_verifier=second)
    assert err.value.code is Code.TDX_VERIFIER_DISAGREEMENT
    assert "accepted (UpToDate)" in err.value.message  # ours
    assert f"fake-qvl 1.0 {shown}" in err.value.message  # theirs
    # The second verifier saw exactly what the first verified, with its own Intel root.
    assert seen[0].quote == real_quote() and seen[0].root_der is None and seen[0].now == JAN_20


def test_production_trust_leaves_the_root_to_dcap_qvl_other_roots_are_passed() -> None:
    chain_root: list[bytes | None] = []

    def second(given: SecondInput) -> SecondVerdict:
        chain_root.append(given.root_der)
        return dcap_qvl_verdict(given)

    _verify(second_verifier=second)
    assert chain_root == [None]


def test_missing_dcap_qvl_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_dcap(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "dcap_qvl":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dcap)
    with pytest.raises(HardwareError) as err:
        _verify()
    assert err.value.code is Code.TDX_VERIFIER_DISAGREEMENT
    assert "not installed" in err.value.message


def test_our_rejection_comes_first_and_keeps_its_code() -> None:
    called: list[SecondInput] = []

    def second(given: SecondInput) -> SecondVerdict:
        called.append(given)
        return SecondVerdict("fake-qvl 1.0", True, "UpToDate")

    with pytest.raises(HardwareError) as err:
        verify_tdx_evidence(
            real_quote(),
            collateral=real_collateral(),
            policy=historic_policy(),
            trust=IntelTrust.production(),
            now=JAN_20.replace(year=2027),
            second_verifier=second,
        )
    assert err.value.code is Code.TCB_INFO_EXPIRED
    assert called == []


def test_policy_without_tcb_evaluation_cannot_get_a_second_verdict() -> None:
    policy = dataclasses.replace(historic_policy(), tcb_evaluation_required=False)
    with pytest.raises(HardwareError) as err:
        verify_tdx_evidence(
            real_quote(),
            collateral=real_collateral(),
            policy=policy,
            trust=IntelTrust.production(),
            now=JAN_20,
        )
    assert err.value.code is Code.TDX_VERIFIER_DISAGREEMENT


def test_a_collateral_mutation_only_dcap_qvl_catches_is_rejected() -> None:
    # A PCK CRL correctly signed by its CA but without the extensions every Intel CRL carries
    # (CRL Number and Authority Key Identifier; RFC 5280 requires both). Our verifier matches
    # a CRL to its issuer by name and signature and needs neither; dcap-qvl refuses to parse
    # a CRL without extensions.
    pki = synth.Pki()
    collateral = dataclasses.replace(
        synth.build_collateral(pki),
        pck_crl=synth.crl(synth.PLATFORM_CN, pki.ca_key, extensions=False),
    )
    production = TdxPolicy.production()
    ours_only = dataclasses.replace(production, second_verifier_required=False)
    quote = synth.build_quote(pki)
    accepted = verify_tdx_evidence(
        quote, collateral=collateral, policy=ours_only, trust=pki.trust(), now=synth.NOW
    )
    assert accepted.tcb_status == "UpToDate"
    with pytest.raises(HardwareError) as err:
        verify_tdx_evidence(
            quote, collateral=collateral, policy=production, trust=pki.trust(), now=synth.NOW
        )
    assert err.value.code is Code.TDX_VERIFIER_DISAGREEMENT
    assert "accepted (UpToDate)" in err.value.message and "dcap-qvl" in err.value.message
    # The same collateral with the CRL's extensions: both accept.
    both = verify_tdx_evidence(
        quote,
        collateral=synth.build_collateral(pki),
        policy=production,
        trust=pki.trust(),
        now=synth.NOW,
    )
    assert len(both.verifiers) == 2
