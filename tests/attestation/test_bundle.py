"""Bundle envelope parsing: the real bundle, strictness, encodings and the gzip cap."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from typing import Any

import pytest

from attestation.bundle import MAX_BUNDLE_BYTES, gunzip_capped, parse_bundle
from attestation.errors import AttestationError, BundleError, Code, Step
from attestation.models import SEV_SNP_GUEST_V2, Platform
from tests.attestation.realdata import REAL_DIGEST, dumps, real_bundle, real_bundle_bytes


def test_real_bundle_parses() -> None:
    b = parse_bundle(real_bundle_bytes())
    assert b.domain == "inference.tinfoil.sh"
    assert b.platform is Platform.SEV_SNP and b.format == SEV_SNP_GUEST_V2
    assert len(b.evidence) == 1184
    assert b.digest == REAL_DIGEST
    assert b.vcek_der[:2] == b"\x30\x82"
    assert b.enclave_cert_pem.startswith("-----BEGIN CERTIFICATE-----")
    assert json.loads(b.sigstore_bundle_json)["mediaType"].startswith(
        "application/vnd.dev.sigstore.bundle"
    )
    # docs/protocol.md §2.3: the hatt SANs carry sha256(format + body), here 3b9c446c…a32e5d95
    assert b.document_hash.startswith("3b9c446c") and b.document_hash.endswith("a32e5d95")
    doc = real_bundle()["enclaveAttestationReport"]
    assert b.document_hash == hashlib.sha256((doc["format"] + doc["body"]).encode()).hexdigest()


def _mutated(change: Any) -> bytes:
    bundle = real_bundle()
    change(bundle)
    return dumps(bundle)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda b: b.update(extra=1), Code.BUNDLE_MALFORMED),
        (lambda b: b.pop("digest"), Code.BUNDLE_MALFORMED),
        (lambda b: b.update(digest=REAL_DIGEST.upper()), Code.BUNDLE_MALFORMED),
        (lambda b: b.update(domain="https://inference.tinfoil.sh"), Code.BUNDLE_MALFORMED),
        (lambda b: b.update(domain="inference.tinfoil.sh:443"), Code.BUNDLE_MALFORMED),
        (lambda b: b.update(vcek="!!notbase64"), Code.BUNDLE_MALFORMED),
        (lambda b: b.update(sigstoreBundle="{}"), Code.BUNDLE_MALFORMED),
        (lambda b: b["enclaveAttestationReport"].update(body="AAAA"), Code.BUNDLE_MALFORMED),
        (
            lambda b: b["enclaveAttestationReport"].update(format="x"),
            Code.REPORT_FORMAT_UNSUPPORTED,
        ),
        (lambda b: b["enclaveAttestationReport"].update(extra="x"), Code.BUNDLE_MALFORMED),
    ],
)
def test_malformed_bundles(change: Any, code: Code) -> None:
    with pytest.raises(BundleError) as exc:
        parse_bundle(_mutated(change))
    assert exc.value.code is code
    assert exc.value.step is Step.PARSE


def test_not_json_and_too_large() -> None:
    with pytest.raises(BundleError):
        parse_bundle(b"[1, 2]")
    with pytest.raises(BundleError):
        parse_bundle(b"{" + b" " * MAX_BUNDLE_BYTES + b"}")


def test_gzip_bomb_is_capped() -> None:
    bomb = gzip.compress(b"\0" * (2 * 1024 * 1024))
    with pytest.raises(BundleError) as exc:
        gunzip_capped(bomb, limit=1024 * 1024)
    assert "inflates beyond" in exc.value.message
    body = base64.b64encode(gzip.compress(b"\0" * (11 * 1024 * 1024))).decode()
    with pytest.raises(AttestationError):
        parse_bundle(_mutated(lambda b: b["enclaveAttestationReport"].update(body=body)))


def test_gzip_trailing_garbage_rejected() -> None:
    with pytest.raises(BundleError):
        gunzip_capped(gzip.compress(b"abc") + b"junk")
    with pytest.raises(BundleError):
        gunzip_capped(gzip.compress(b"abc")[:-4])
