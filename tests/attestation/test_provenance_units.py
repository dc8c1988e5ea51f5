"""Unit tests for the hand-written Sigstore pieces: RFC 6962 audit paths, Fulcio extension
decoding, bundle structure parsing, the policy object and the trust-root parser."""

from __future__ import annotations

import hashlib
import json

import pytest
from cryptography import x509

from attestation.errors import Code, ProvenanceError, TrustError
from attestation.models import HARDWARE_MEASUREMENTS_V1, SNP_TDX_MULTIPLATFORM_V1
from attestation.provenance.bundle import parse_bundle
from attestation.provenance.identity import _der_utf8
from attestation.provenance.policy import ANY, GITHUB_ACTIONS_ISSUER, SigstorePolicy, allows
from attestation.provenance.rekor import merkle_root_from_proof
from attestation.provenance.trust import parse_trust_material
from attestation.x509ext import UndecodableExtensionError


def _leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 Merkle Tree Hash, by its recursive definition."""
    if len(leaves) == 1:
        return _leaf_hash(leaves[0])
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 §2.1.1 PATH(m, D[n]), by its recursive definition."""
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17])
def test_merkle_root_matches_recursive_definition(size: int) -> None:
    leaves = [bytes([i]) * 3 for i in range(size)]
    root = _mth(leaves)
    for index in range(size):
        path = tuple(_path(index, leaves))
        assert merkle_root_from_proof(index, size, leaves[index], path) == root
        assert merkle_root_from_proof(index, size, b"other", path) != root


@pytest.mark.parametrize(
    ("index", "size", "path_len"), [(5, 5, 3), (0, 4, 1), (0, 4, 3), (0, 1, 1)]
)
def test_merkle_bad_shapes_raise(index: int, size: int, path_len: int) -> None:
    with pytest.raises(ValueError, match=r"audit path|beyond"):
        merkle_root_from_proof(index, size, b"x", (b"\x00" * 32,) * path_len)


def test_der_utf8_decoding() -> None:
    assert _der_utf8(b"\x0c\x03abc") == "abc"
    long_value = "x" * 200
    assert _der_utf8(b"\x0c\x81\xc8" + long_value.encode()) == long_value
    assert _der_utf8(None) is None
    for bad in (b"\x13\x03abc", b"\x0c\x04abc", b"\x0c\x02abc", b"\x0c\x81\x03abc", b"\x0c"):
        with pytest.raises(UndecodableExtensionError):
            _der_utf8(bad)


def test_policy_defaults_fail_closed() -> None:
    policy = SigstorePolicy.production()
    assert policy.repository == "tinfoilsh/confidential-model-router"
    assert policy.oidc_issuer == GITHUB_ACTIONS_ISSUER
    assert policy.workflow_ref_prefix == "refs/tags/"
    assert policy.predicate_types_allowed == (SNP_TDX_MULTIPLATFORM_V1,)
    assert policy.payload_type == "application/vnd.in-toto+json"
    hw = SigstorePolicy.hardware_measurements()
    assert hw.repository == "tinfoilsh/hardware-measurements"
    assert hw.predicate_types_allowed == (HARDWARE_MEASUREMENTS_V1,)
    with pytest.raises(ValueError, match=">= 1"):
        SigstorePolicy(repository="a/b", tlog_entries_min=0)


def test_allowlist_semantics() -> None:
    assert allows(ANY, "anything")
    assert not allows((), "anything")
    assert allows(("a",), "a")
    assert not allows(("a",), "A")


def _reject_bundle(doc: object) -> Code:
    with pytest.raises(ProvenanceError) as info:
        parse_bundle(json.dumps(doc).encode() if not isinstance(doc, bytes) else doc)
    return info.value.code


def test_bundle_structure_rejections() -> None:
    assert _reject_bundle(b"[1,") is Code.BUNDLE_MALFORMED
    assert _reject_bundle([]) is Code.BUNDLE_MALFORMED
    assert _reject_bundle({"mediaType": "x"}) is Code.BUNDLE_MALFORMED
    dup = b'{"mediaType": "a", "mediaType": "b"}'
    assert _reject_bundle(dup) is Code.BUNDLE_MALFORMED
    too_big = b" " * (2 << 20)
    assert _reject_bundle(too_big) is Code.BUNDLE_MALFORMED


def test_trust_root_parser() -> None:
    with pytest.raises(TrustError):
        parse_trust_material(b'{"mediaType": "application/other"}')
    empty = parse_trust_material(
        b'{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1"}'
    )
    assert empty.tlogs == () and empty.ctlogs == () and empty.certificate_authorities == ()
    with pytest.raises(TrustError):
        parse_trust_material(
            json.dumps(
                {
                    "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
                    "tlogs": [{"publicKey": {"rawBytes": "AAAA"}, "logId": {"keyId": "AA=="}}],
                }
            ).encode()
        )


def test_extension_oids_are_fulcio() -> None:
    from attestation.provenance import identity

    assert identity.OID_ISSUER_V2 == x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
    assert identity.OID_WORKFLOW_REF == x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.6")
