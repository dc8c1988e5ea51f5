"""The real production Sigstore bundle (tinfoilsh/confidential-model-router v0.0.38) verifies
offline against the sigstore wheel's production trust root; single mutations of it are
rejected with the code of the check they break (docs/attestation.md V4.2)."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from attestation.errors import Code, ProvenanceError, TrustError
from attestation.models import SNP_TDX_MULTIPLATFORM_V1
from attestation.provenance import (
    ANY,
    SigstorePolicy,
    SigstoreTrust,
    verify_hardware_measurements_bundle,
    verify_provenance,
)
from tests.conftest import data_path

DIGEST = "5ed9d5c942528ec2eeb759919827f1bc2183c6810f80225a52147dd4020c12a0"
SNP = (
    "09ef32acf90fcfeb6206d1a46c13145cef736ebbb83f18ea"
    "ff680b686232031546ff5fd39c44599699ee8734cbbeb519"
)
RTMR1 = (
    "a7ed1bcbe696222ecf956f2c78a3b29fcc8ca24831a4751b"
    "58f5858d537fbf29666e7949e8402599c96f41a80f7fe253"
)
RTMR2 = (
    "ddce36c7bebf841b3a4ff0c8c2df63869f102b74904063ef"
    "c24244bf5b983b44e87f610c73f963bd3e859014903508c3"
)

Bundle = dict[str, Any]


@pytest.fixture(scope="module")
def real_bundle() -> Bundle:
    doc = json.loads(data_path("attestation", "sev", "real_genoa_bundle.json").read_text())
    assert doc["digest"] == DIGEST
    bundle: Bundle = doc["sigstoreBundle"]
    return bundle


@pytest.fixture(scope="module")
def trust() -> SigstoreTrust:
    return SigstoreTrust.production()


def _verify(bundle: Bundle, trust: SigstoreTrust, **overrides: Any) -> Any:
    policy = overrides.pop("policy", SigstorePolicy.production())
    digest = overrides.pop("digest", DIGEST)
    return verify_provenance(
        json.dumps(bundle).encode(), expected_digest=digest, policy=policy, trust=trust
    )


def _reject(bundle: Bundle, trust: SigstoreTrust, **overrides: Any) -> Code:
    with pytest.raises(ProvenanceError) as info:
        _verify(bundle, trust, **overrides)
    return info.value.code


def test_real_bundle_verifies_offline(real_bundle: Bundle, trust: SigstoreTrust) -> None:
    prov = _verify(real_bundle, trust)
    assert prov.measurement.type == SNP_TDX_MULTIPLATFORM_V1
    assert prov.measurement.registers == (SNP, RTMR1, RTMR2)
    assert prov.repository == "tinfoilsh/confidential-model-router"
    assert prov.workflow_ref == "refs/tags/v0.0.38"
    assert prov.oidc_issuer == "https://token.actions.githubusercontent.com"
    assert prov.signer_uri == (
        "https://github.com/tinfoilsh/confidential-model-router/.github/workflows/build.yml"
        "@refs/tags/v0.0.38"
    )
    assert prov.digest == DIGEST
    assert prov.subject_name == "tinfoil-deployment.json"
    assert prov.statement_type == "https://in-toto.io/Statement/v1"
    assert prov.rekor_log_id_hex == (
        "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d"
    )
    assert prov.integrated_time == 1769121722
    assert (prov.tlog_entry_count, prov.sct_count) == (1, 1)


def test_uppercase_expected_digest_accepted(real_bundle: Bundle, trust: SigstoreTrust) -> None:
    assert _verify(real_bundle, trust, digest=DIGEST.upper()).digest == DIGEST


def test_production_trust_is_offline_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real_bundle: Bundle
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr("socket.socket.connect", no_network)
    fresh = SigstoreTrust.production()
    _verify(real_bundle, fresh)
    assert list(home.iterdir()) == []


def test_verifier_is_built_once_and_reused(real_bundle: Bundle) -> None:
    fresh = SigstoreTrust.production()
    first = fresh.verifier()
    _verify(real_bundle, fresh)
    _verify(real_bundle, fresh)
    assert fresh.verifier() is first


def test_production_root_matches_the_suites_pinned_root(trust: SigstoreTrust) -> None:
    suite_root = data_path(
        "conformance",
        "vectors",
        "sigstore",
        "001-happy-path-snp-tdx-multiplatform",
        "files",
        "trust_root.json",
    )
    assert json.loads(trust.raw) == json.loads(suite_root.read_bytes())


def _flip_b64(value: str, index: int = 10) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def _entry(b: Bundle) -> dict[str, Any]:
    entry: dict[str, Any] = b["verificationMaterial"]["tlogEntries"][0]
    return entry


def _flip_dsse_sig(b: Bundle) -> None:
    sig = b["dsseEnvelope"]["signatures"][0]
    sig["sig"] = _flip_b64(sig["sig"], 20)


def _tamper_payload(b: Bundle) -> None:
    payload = base64.b64decode(b["dsseEnvelope"]["payload"])
    b["dsseEnvelope"]["payload"] = base64.b64encode(
        payload.replace(SNP.encode(), b"0" * 96)
    ).decode()


def _flip_checkpoint_sig(b: Bundle) -> None:
    checkpoint = _entry(b)["inclusionProof"]["checkpoint"]
    head, _, sig = checkpoint["envelope"].rstrip("\n").rpartition(" ")
    checkpoint["envelope"] = f"{head} {_flip_b64(sig, 30)}\n"


def _flip_root_hash(b: Bundle) -> None:
    proof = _entry(b)["inclusionProof"]
    proof["rootHash"] = _flip_b64(proof["rootHash"], 0)


def _flip_audit_path(b: Bundle) -> None:
    proof = _entry(b)["inclusionProof"]
    proof["hashes"][3] = _flip_b64(proof["hashes"][3], 5)


def _flip_set(b: Bundle) -> None:
    promise = _entry(b)["inclusionPromise"]
    promise["signedEntryTimestamp"] = _flip_b64(promise["signedEntryTimestamp"], 40)


def _shift_integrated_time(b: Bundle) -> None:
    _entry(b)["integratedTime"] = str(int(_entry(b)["integratedTime"]) + 86400)


def _nudge_integrated_time(b: Bundle) -> None:
    # Still inside the ~10-minute certificate window, but no longer what the SET signed.
    _entry(b)["integratedTime"] = str(int(_entry(b)["integratedTime"]) + 1)


def _unknown_log(b: Bundle) -> None:
    _entry(b)["logId"]["keyId"] = base64.b64encode(b"\x00" * 32).decode()


def _drop_promise_and_time(b: Bundle) -> None:
    del _entry(b)["inclusionPromise"]
    del _entry(b)["integratedTime"]


def _legacy_chain(b: Bundle) -> None:
    material = b["verificationMaterial"]
    cert = material.pop("certificate")
    material["x509CertificateChain"] = {"certificates": [cert]}


def _extra_field(b: Bundle) -> None:
    b["verificationMaterial"]["extra"] = 1


def _two_signatures(b: Bundle) -> None:
    sigs = b["dsseEnvelope"]["signatures"]
    sigs.append(dict(sigs[0]))


def _no_tlog(b: Bundle) -> None:
    b["verificationMaterial"]["tlogEntries"] = []


def _old_media_type(b: Bundle) -> None:
    b["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.2"


MUTATIONS: dict[str, tuple[Callable[[Bundle], None], Code]] = {
    "dsse-signature-byte": (_flip_dsse_sig, Code.DSSE_SIGNATURE_INVALID),
    "payload-measurement": (_tamper_payload, Code.DSSE_SIGNATURE_INVALID),
    "checkpoint-signature": (_flip_checkpoint_sig, Code.REKOR_INCLUSION_INVALID),
    "proof-root-hash": (_flip_root_hash, Code.CHECKPOINT_ROOT_MISMATCH),
    "proof-audit-path": (_flip_audit_path, Code.REKOR_INCLUSION_INVALID),
    "inclusion-promise": (_flip_set, Code.REKOR_INCLUSION_INVALID),
    "integrated-time-after-cert": (_shift_integrated_time, Code.CERT_EXPIRED),
    "integrated-time-unsigned": (_nudge_integrated_time, Code.REKOR_INCLUSION_INVALID),
    "unknown-rekor-log": (_unknown_log, Code.REKOR_KEY_NOT_TRUSTED),
    "no-signing-time": (_drop_promise_and_time, Code.OBSERVER_TIMESTAMP_INSUFFICIENT),
    "legacy-certificate-chain": (_legacy_chain, Code.BUNDLE_MALFORMED),
    "unknown-material-field": (_extra_field, Code.BUNDLE_MALFORMED),
    "two-dsse-signatures": (_two_signatures, Code.BUNDLE_MALFORMED),
    "no-tlog-entries": (_no_tlog, Code.TLOG_COUNT_OUT_OF_RANGE),
    "v0.2-media-type": (_old_media_type, Code.BUNDLE_MALFORMED),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_bundle_mutation_rejected(name: str, real_bundle: Bundle, trust: SigstoreTrust) -> None:
    mutate, code = MUTATIONS[name]
    bundle = copy.deepcopy(real_bundle)
    mutate(bundle)
    assert _reject(bundle, trust) is code


def test_wrong_digest_rejected(real_bundle: Bundle, trust: SigstoreTrust) -> None:
    assert _reject(real_bundle, trust, digest="00" * 32) is Code.SUBJECT_DIGEST_MISMATCH


@pytest.mark.parametrize(
    ("policy", "code"),
    [
        (SigstorePolicy.production("tinfoilsh/other-repo"), Code.WORKFLOW_REPOSITORY_MISMATCH),
        (
            SigstorePolicy(
                repository="tinfoilsh/confidential-model-router", workflow_ref_prefix="refs/heads/"
            ),
            Code.WORKFLOW_REF_PREFIX_MISMATCH,
        ),
        (
            SigstorePolicy(
                repository="tinfoilsh/confidential-model-router",
                oidc_issuer="https://accounts.google.com",
            ),
            Code.OIDC_ISSUER_MISMATCH,
        ),
        (
            SigstorePolicy(
                repository="tinfoilsh/confidential-model-router", payload_type="application/json"
            ),
            Code.PAYLOAD_TYPE_MISMATCH,
        ),
        (
            SigstorePolicy(
                repository="tinfoilsh/confidential-model-router", predicate_types_allowed=()
            ),
            Code.PREDICATE_TYPE_NOT_ALLOWED,
        ),
        (
            SigstorePolicy(
                repository="tinfoilsh/confidential-model-router",
                in_toto_statement_types_allowed=("https://in-toto.io/Statement/v0.1",),
            ),
            Code.IN_TOTO_STATEMENT_TYPE_NOT_ALLOWED,
        ),
    ],
)
def test_policy_mismatch_rejected(
    policy: SigstorePolicy, code: Code, real_bundle: Bundle, trust: SigstoreTrust
) -> None:
    assert _reject(real_bundle, trust, policy=policy) is code


def test_allowlists_accept_any_explicitly(real_bundle: Bundle, trust: SigstoreTrust) -> None:
    policy = SigstorePolicy(
        repository="tinfoilsh/confidential-model-router",
        workflow_ref_prefix="",
        predicate_types_allowed=ANY,
        in_toto_statement_types_allowed=ANY,
    )
    assert _verify(real_bundle, trust, policy=policy).measurement.registers[0] == SNP


def test_hardware_entry_point_refuses_code_measurement_bundle(
    real_bundle: Bundle, trust: SigstoreTrust
) -> None:
    policy = SigstorePolicy(
        repository="tinfoilsh/confidential-model-router", predicate_types_allowed=ANY
    )
    with pytest.raises(ProvenanceError) as info:
        verify_hardware_measurements_bundle(
            json.dumps(real_bundle).encode(), expected_digest=DIGEST, policy=policy, trust=trust
        )
    assert info.value.code is Code.PREDICATE_TYPE_NOT_ALLOWED


def _root_without(trust: SigstoreTrust, key: str) -> SigstoreTrust:
    doc = json.loads(trust.raw)
    doc[key] = []
    return SigstoreTrust.from_trusted_root_json(json.dumps(doc).encode())


@pytest.mark.parametrize(
    ("component", "code"),
    [
        ("certificateAuthorities", Code.FULCIO_CHAIN_INVALID),
        ("ctlogs", Code.SCT_INSUFFICIENT),
        ("tlogs", Code.REKOR_KEY_NOT_TRUSTED),
    ],
)
def test_trust_root_missing_component(
    component: str, code: Code, real_bundle: Bundle, trust: SigstoreTrust
) -> None:
    assert _reject(real_bundle, _root_without(trust, component)) is code


def test_trust_root_not_json_rejected() -> None:
    with pytest.raises(TrustError) as info:
        SigstoreTrust.from_trusted_root_json(b"{not json")
    assert info.value.code is Code.TRUST_ROOT_INVALID
