"""TDX verifier points found in review, each shown on a quote or collateral that exposes it.

* The TDX module identity is looked up as ``TDX_%02X`` (hexadecimal, as Intel's QVL does).
* TCB Info and QE Identity must be signed by the "Intel SGX TCB Signing" certificate.
* Collateral must already be valid: TCB Info / QE Identity ``issueDate`` and the CRLs'
  ``thisUpdate`` are checked against the clock, not only their ``nextUpdate``.
* A malformed certificate in a quote or chain is the package's error with a code, never a
  bare ``ValueError`` / ``UnsupportedAlgorithm`` from the library.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from attestation.errors import Code, HardwareError
from attestation.tdx import TdxCollateral, TdxPolicy, verify_tdx_evidence
from attestation.tdx.tcb import module_identity_id
from tests.attestation import tdx_synth as synth

POLICY = TdxPolicy.production()
P256_OID = bytes.fromhex("06082a8648ce3d030107")  # prime256v1, DER-encoded
UNKNOWN_CURVE_OID = bytes.fromhex("06082a8648ce3d030109")  # 1.2.840.10045.3.1.9: no curve


@pytest.fixture(scope="module")
def pki() -> synth.Pki:
    return synth.Pki()


def _run(
    pki: synth.Pki, quote: bytes | None = None, collateral: TdxCollateral | None = None
) -> Any:
    return verify_tdx_evidence(
        quote if quote is not None else synth.build_quote(pki),
        collateral=collateral if collateral is not None else synth.build_collateral(pki),
        policy=POLICY,
        trust=pki.trust(),
        now=synth.NOW,
    )


def _code(pki: synth.Pki, **kwargs: Any) -> Code:
    with pytest.raises(HardwareError) as err:
        _run(pki, **kwargs)
    return err.value.code


# --- module identity id ------------------------------------------------------------------------


def test_module_identity_id_is_two_uppercase_hex_digits() -> None:
    assert module_identity_id(1) == "TDX_01"
    assert module_identity_id(10) == "TDX_0A"
    assert module_identity_id(16) == "TDX_10"
    assert module_identity_id(255) == "TDX_FF"


def _module_major(pki: synth.Pki, major: int, listed_id: str) -> tuple[bytes, TdxCollateral]:
    svn = bytes([5, major, 3]) + bytes(13)

    def relabel(body: dict[str, Any]) -> None:
        body["tdxModuleIdentities"][0]["id"] = listed_id

    return (
        synth.build_quote(pki, body={"tee_tcb_svn": svn}),
        synth.build_collateral(pki, tcb=relabel),
    )


def test_module_major_ten_is_found_under_its_hex_id(pki: synth.Pki) -> None:
    quote, collateral = _module_major(pki, 10, "TDX_0A")
    assert _run(pki, quote=quote, collateral=collateral).tcb_status == "UpToDate"


def test_decimal_id_of_module_major_ten_is_not_its_identity(pki: synth.Pki) -> None:
    quote, collateral = _module_major(pki, 10, "TDX_10")  # what "%02d" would have looked up
    assert _code(pki, quote=quote, collateral=collateral) is Code.QV_RESULT_TERMINAL_UNSPECIFIED


# --- signer subject ----------------------------------------------------------------------------


def _other_signer(pki: synth.Pki) -> str:
    # Issued by the same root, same key: only its subject says it is not the TCB Signing cert.
    cert = synth.make_cert(
        "Intel SGX PCK Platform CA", pki.tcb_key, synth.ROOT_CN, pki.root_key, ca=False, serial=9
    )
    return synth.pem(cert, pki.root).decode()


def test_tcb_info_signed_by_a_certificate_other_than_tcb_signing(pki: synth.Pki) -> None:
    collateral = dataclasses.replace(
        synth.build_collateral(pki), tcb_info_issuer_chain=_other_signer(pki)
    )
    assert _code(pki, collateral=collateral) is Code.TCB_INFO_CHAIN_INVALID


def test_qe_identity_signed_by_a_certificate_other_than_tcb_signing(pki: synth.Pki) -> None:
    collateral = dataclasses.replace(
        synth.build_collateral(pki), qe_identity_issuer_chain=_other_signer(pki)
    )
    assert _code(pki, collateral=collateral) is Code.QE_IDENTITY_SIGNATURE_INVALID


# --- collateral not yet valid ------------------------------------------------------------------

FUTURE = "2026-01-20T00:00:00Z"  # after synth.NOW (2026-01-15), before nextUpdate


def test_tcb_info_issued_in_the_future(pki: synth.Pki) -> None:
    collateral = synth.build_collateral(pki, tcb=lambda b: b.update(issueDate=FUTURE))
    with pytest.raises(HardwareError) as err:
        _run(pki, collateral=collateral)
    assert err.value.code is Code.TCB_INFO_EXPIRED and "not yet valid" in err.value.message


def test_qe_identity_issued_in_the_future(pki: synth.Pki) -> None:
    collateral = synth.build_collateral(pki, qe=lambda b: b.update(issueDate=FUTURE))
    assert _code(pki, collateral=collateral) is Code.QE_IDENTITY_EXPIRED


@pytest.mark.parametrize(
    ("which", "code"), [("pck", Code.PCK_CRL_EXPIRED), ("root", Code.ROOT_CRL_EXPIRED)]
)
def test_crl_this_update_in_the_future(pki: synth.Pki, which: str, code: Code) -> None:
    later = synth.NOW + dt.timedelta(days=1)
    base = synth.build_collateral(pki)
    if which == "pck":
        collateral = dataclasses.replace(
            base, pck_crl=synth.crl(synth.PLATFORM_CN, pki.ca_key, this_update=later)
        )
    else:
        collateral = dataclasses.replace(
            base, root_crl=synth.crl(synth.ROOT_CN, pki.root_key, this_update=later)
        )
    assert _code(pki, collateral=collateral) is code


# --- malformed certificates --------------------------------------------------------------------


def _with_unknown_curve(cert: x509.Certificate) -> x509.Certificate:
    der = cert.public_bytes(Encoding.DER)
    assert der.count(P256_OID) == 1
    mutated = x509.load_der_x509_certificate(der.replace(P256_OID, UNKNOWN_CURVE_OID))
    return mutated


def test_library_defers_the_failure_we_must_catch(pki: synth.Pki) -> None:
    # The premise: the certificate loads, and only its key fails, later, with a bare error.
    with pytest.raises(Exception) as err:
        _with_unknown_curve(pki.root).public_key()
    assert not isinstance(err.value, HardwareError)


@pytest.mark.parametrize("position", [0, 1, 2])
def test_malformed_certificate_in_the_quote_is_pck_chain_invalid(
    pki: synth.Pki, position: int
) -> None:
    broken = synth.Pki(
        root_key=pki.root_key,
        ca_key=pki.ca_key,
        pck_key=pki.pck_key,
        tcb_key=pki.tcb_key,
        ak=pki.ak,
    )
    broken.chain = list(pki.chain)
    broken.chain[position] = _with_unknown_curve(pki.chain[position])
    with pytest.raises(HardwareError) as err:
        _run(pki, quote=synth.build_quote(broken))
    assert err.value.code is Code.PCK_CHAIN_INVALID
    assert "malformed" in err.value.message


def test_malformed_certificate_in_a_collateral_chain(pki: synth.Pki) -> None:
    chain = synth.pem(_with_unknown_curve(pki.tcb_cert), pki.root).decode()
    collateral = dataclasses.replace(synth.build_collateral(pki), tcb_info_issuer_chain=chain)
    assert _code(pki, collateral=collateral) is Code.TCB_INFO_CHAIN_INVALID
