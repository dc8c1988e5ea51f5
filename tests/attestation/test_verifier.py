"""verify_bundle end to end: the real bundle, and one mutation per rejection path."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest

from attestation.errors import AttestationError, Code, Step
from attestation.models import SNP_TDX_MULTIPLATFORM_V1, Platform, StepResult
from attestation.policy import Policy
from attestation.sev.roots import AmdTrust
from attestation.trust import Trust
from attestation.verifier import verify_bundle
from tests.attestation.realdata import (
    FIXED_NOW,
    REAL_DIGEST,
    REAL_HPKE_KEY,
    REAL_MEASUREMENT,
    REAL_TLS_FP,
    dumps,
    flip,
    pinned_amd,
    real_bundle,
    real_bundle_bytes,
    real_bundle_with_foreign_tls_key,
    report_of,
    synth_amd,
    synthetic_bundle,
    with_report,
)


def _trust(amd: AmdTrust | None = None) -> Trust:
    from attestation.provenance.trust import SigstoreTrust

    return Trust(amd=amd or pinned_amd(), sigstore=SigstoreTrust.production())


def _verify(bundle: bytes, amd: AmdTrust | None = None, now: dt.datetime = FIXED_NOW) -> Any:
    return verify_bundle(bundle, policy=Policy.production(), trust=_trust(amd), now=now)


def test_real_bundle_verifies_with_production_policy() -> None:
    seen: list[StepResult] = []
    enclave = verify_bundle(
        real_bundle_bytes(),
        policy=Policy.production(),
        trust=_trust(),
        now=FIXED_NOW,
        on_step=seen.append,
    )
    assert enclave.domain == "inference.tinfoil.sh"
    assert enclave.platform is Platform.SEV_SNP
    assert enclave.repository == "tinfoilsh/confidential-model-router"
    assert enclave.release_digest == REAL_DIGEST
    assert enclave.hardware_measurement.registers == (REAL_MEASUREMENT,)
    assert enclave.code_measurement.type == SNP_TDX_MULTIPLATFORM_V1
    assert enclave.code_measurement.registers[0] == REAL_MEASUREMENT
    assert enclave.hpke_public_key.hex() == REAL_HPKE_KEY
    assert enclave.tls_key_fingerprint == REAL_TLS_FP
    assert enclave.tcb == {"bl_spl": 10, "tee_spl": 0, "snp_spl": 23, "ucode_spl": 84}
    assert enclave.verified_at == FIXED_NOW
    assert [s.step for s in enclave.steps] == [
        Step.PARSE,
        Step.HARDWARE,
        Step.PROVENANCE,
        Step.MEASUREMENT,
        Step.KEY_BINDING,
    ]
    assert all(s.ok for s in enclave.steps)
    assert tuple(seen) == enclave.steps


def test_real_bundle_verifies_today() -> None:
    # Deliberately the wall clock: the issue requires verification "at today's date".
    assert _verify(real_bundle_bytes(), now=dt.datetime.now(dt.UTC)).repository


def _expect(bundle: bytes, step: Step, code: Code, amd: AmdTrust | None = None) -> None:
    with pytest.raises(AttestationError) as exc:
        _verify(bundle, amd)
    assert (exc.value.step, exc.value.code) == (step, code), str(exc.value)


def test_report_byte_flip() -> None:
    b = real_bundle()
    _expect(
        dumps(with_report(b, flip(report_of(b), 0x2A0))),
        Step.HARDWARE,
        Code.REPORT_SIGNATURE_INVALID,
    )


def test_report_data_byte_flip_breaks_signature() -> None:
    b = real_bundle()
    _expect(
        dumps(with_report(b, flip(report_of(b), 0x50))),
        Step.HARDWARE,
        Code.REPORT_SIGNATURE_INVALID,
    )


def test_vcek_byte_flip() -> None:
    b = real_bundle()
    vcek = bytearray(base64.b64decode(b["vcek"]))
    vcek[-8] ^= 0xFF
    b["vcek"] = base64.b64encode(bytes(vcek)).decode()
    _expect(dumps(b), Step.HARDWARE, Code.VCEK_CHAIN_INVALID)


def test_sigstore_digest_changed() -> None:
    b = real_bundle()
    b["digest"] = "0" * 64
    _expect(dumps(b), Step.PROVENANCE, Code.SUBJECT_DIGEST_MISMATCH)


def test_domain_not_in_san() -> None:
    b = real_bundle()
    b["domain"] = "router.inf6.tinfoil.sh"
    _expect(dumps(b), Step.KEY_BINDING, Code.CERT_DOMAIN_MISMATCH)


def test_enclave_cert_from_another_bundle() -> None:
    b = real_bundle()
    b["enclaveCert"] = json.loads(synthetic_bundle())["enclaveCert"]
    _expect(dumps(b), Step.KEY_BINDING, Code.CERT_HPKE_KEY_MISMATCH)


def test_enclave_cert_key_not_in_report_data() -> None:
    # Beyond the reference SDKs: right SANs, wrong key -> the report does not vouch for it.
    _expect(real_bundle_with_foreign_tls_key(), Step.KEY_BINDING, Code.TLS_KEY_BINDING_MISMATCH)


def test_release_tag_must_match_workflow_ref() -> None:
    b = real_bundle()
    b["releaseTag"] = "v0.0.38"
    assert _verify(dumps(b)).repository
    b["releaseTag"] = "v0.0.37"
    _expect(dumps(b), Step.PROVENANCE, Code.WORKFLOW_REF_PREFIX_MISMATCH)


def test_unpinned_chain_cannot_verify_real_bundle() -> None:
    _expect(real_bundle_bytes(), Step.HARDWARE, Code.VCEK_CHAIN_INVALID, synth_amd())


def test_missing_amd_product_fails_closed() -> None:
    genoa_less = AmdTrust([], pinned=True)
    _expect(real_bundle_bytes(), Step.TRUST, Code.TRUST_ROOT_INVALID, genoa_less)


# ---- synthetic re-signed reports: one binding broken at a time ----


def test_synthetic_bundle_verifies() -> None:
    enclave = _verify(synthetic_bundle(), synth_amd())
    assert enclave.hpke_public_key == bytes(range(32))


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"report_data": bytes(32) + bytes(range(32))}, Code.TLS_KEY_BINDING_MISMATCH),
        ({"cert_hpke": bytes(32)}, Code.CERT_HPKE_KEY_MISMATCH),
        ({"cert_doc_hash": "1" * 64}, Code.CERT_ATTESTATION_HASH_MISMATCH),
        ({"cert_domain": "other.tinfoil.sh"}, Code.CERT_DOMAIN_MISMATCH),
    ],
)
def test_synthetic_key_binding_failures(kwargs: dict[str, Any], code: Code) -> None:
    _expect(synthetic_bundle(**kwargs), Step.KEY_BINDING, code, synth_amd())


def test_synthetic_measurement_mismatch() -> None:
    from tests.attestation.realdata import patch, sign_report

    b = json.loads(synthetic_bundle())
    raw = sign_report(patch(report_of(b), 0x90, bytes(48)))
    _expect(dumps(with_report(b, raw)), Step.MEASUREMENT, Code.MEASUREMENT_MISMATCH, synth_amd())


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        _verify(real_bundle_bytes(), now=dt.datetime(2026, 6, 1))
