"""How failures of the ``sigstore`` library itself are classified (docs/attestation.md V0).

Our explicit checks run first; a library failure that none of them explains is mapped by the
exception's *class* and the phase, never by its message. These tests drive that mapping with
a stand-in verifier, after the real bundle passed every explicit check.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from attestation.errors import Code, ProvenanceError, TrustError
from attestation.provenance import SigstorePolicy, SigstoreTrust, verify_provenance
from tests.conftest import data_path

DIGEST = "5ed9d5c942528ec2eeb759919827f1bc2183c6810f80225a52147dd4020c12a0"


class _FailingVerifier:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def verify_dsse(self, bundle: object, policy: object) -> tuple[str, bytes]:
        raise self.exc


class _OtherPayloadVerifier:
    def verify_dsse(self, bundle: object, policy: object) -> tuple[str, bytes]:
        return ("application/vnd.in-toto+json", b"{}")


def _bundle_bytes() -> bytes:
    doc: dict[str, Any] = json.loads(
        data_path("attestation", "sev", "real_genoa_bundle.json").read_text()
    )
    return json.dumps(doc["sigstoreBundle"]).encode()


def _run(trust: SigstoreTrust) -> None:
    verify_provenance(
        _bundle_bytes(), expected_digest=DIGEST, policy=SigstorePolicy.production(), trust=trust
    )


def _with_verifier(monkeypatch: pytest.MonkeyPatch, verifier: object) -> SigstoreTrust:
    trust = SigstoreTrust.production()
    monkeypatch.setattr(trust, "verifier", lambda: verifier)
    return trust


def test_library_cert_validation_error_is_fulcio_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    from sigstore.errors import CertValidationError

    trust = _with_verifier(monkeypatch, _FailingVerifier(CertValidationError("x")))
    with pytest.raises(ProvenanceError) as info:
        _run(trust)
    assert info.value.code is Code.FULCIO_CHAIN_INVALID


@pytest.mark.parametrize("message", ["DSSE: invalid signature", "invalid log entry: anything"])
def test_unattributed_library_failure_is_generic(
    monkeypatch: pytest.MonkeyPatch, message: str
) -> None:
    from sigstore.errors import VerificationError

    trust = _with_verifier(monkeypatch, _FailingVerifier(VerificationError(message)))
    with pytest.raises(ProvenanceError) as info:
        _run(trust)
    # The same code whatever the library's text says.
    assert info.value.code is Code.DSSE_SIGNATURE_INVALID


def test_library_returning_another_payload_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    trust = _with_verifier(monkeypatch, _OtherPayloadVerifier())
    with pytest.raises(ProvenanceError) as info:
        _run(trust)
    assert info.value.code is Code.BUNDLE_MALFORMED


def test_library_refusing_the_root_is_trust_root_invalid(monkeypatch: pytest.MonkeyPatch) -> None:
    trust = SigstoreTrust.production()

    def refuse() -> object:
        raise ValueError("no")

    monkeypatch.setattr(trust, "verifier", refuse)
    with pytest.raises(TrustError) as info:
        _run(trust)
    assert info.value.code is Code.TRUST_ROOT_INVALID
