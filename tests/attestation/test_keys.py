"""Key binding: report_data split, offered-key check, dcode SANs and enclave certificate binding."""

from __future__ import annotations

import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from attestation.bundle import parse_bundle
from attestation.errors import AttestationError, Code, KeyBindingError
from attestation.keys import (
    AttestedKeys,
    check_offered_hpke_key,
    decode_dcode,
    spki_sha256,
    split_report_data,
    verify_enclave_certificate,
)
from attestation.sev import parse_report
from tests.attestation.realdata import (
    REAL_HPKE_KEY,
    REAL_TLS_FP,
    dcode_sans,
    make_enclave_cert,
    real_bundle_bytes,
)


def _real() -> tuple[str, AttestedKeys, str]:
    b = parse_bundle(real_bundle_bytes())
    keys = split_report_data(parse_report(b.evidence).report_data)
    return b.enclave_cert_pem, keys, b.document_hash


def test_real_report_data_layout() -> None:
    _, keys, _ = _real()
    assert keys.hpke_public_key.hex() == REAL_HPKE_KEY
    assert keys.tls_key_fingerprint.hex() == REAL_TLS_FP


def test_real_certificate_binds() -> None:
    pem, keys, doc_hash = _real()
    cert = x509.load_pem_x509_certificate(pem.encode())
    assert spki_sha256(cert) == keys.tls_key_fingerprint  # the hardening beyond the references
    verify_enclave_certificate(
        pem, domain="inference.tinfoil.sh", keys=keys, document_hash=doc_hash
    )
    sans = [
        str(n)
        for n in cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value.get_values_for_type(x509.DNSName)
    ]
    assert decode_dcode(sans, "hpke", "inference.tinfoil.sh").hex() == REAL_HPKE_KEY
    assert decode_dcode(sans, "hatt", "inference.tinfoil.sh") == doc_hash.encode()


@pytest.mark.parametrize(
    ("domain", "keys_change", "doc_hash", "code"),
    [
        ("router.inf6.tinfoil.sh", None, None, Code.CERT_DOMAIN_MISMATCH),
        ("a.b.inference.tinfoil.sh", None, None, Code.CERT_DOMAIN_MISMATCH),  # wildcard = one label
        (None, "hpke", None, Code.CERT_HPKE_KEY_MISMATCH),
        (None, None, "0" * 64, Code.CERT_ATTESTATION_HASH_MISMATCH),
        (None, "tls", None, Code.TLS_KEY_BINDING_MISMATCH),
    ],
)
def test_real_certificate_mismatches(
    domain: str | None, keys_change: str | None, doc_hash: str | None, code: Code
) -> None:
    pem, keys, real_hash = _real()
    if keys_change == "hpke":
        keys = AttestedKeys(keys.tls_key_fingerprint, bytes(32))
    elif keys_change == "tls":
        keys = AttestedKeys(bytes(32), keys.hpke_public_key)
    with pytest.raises(KeyBindingError) as exc:
        verify_enclave_certificate(
            pem,
            domain=domain or "inference.tinfoil.sh",
            keys=keys,
            document_hash=doc_hash or real_hash,
        )
    assert exc.value.code is code


def test_wildcard_covers_one_label() -> None:
    pem, keys, doc_hash = _real()
    verify_enclave_certificate(
        pem, domain="x.inference.tinfoil.sh", keys=keys, document_hash=doc_hash
    )


def test_malformed_certificates() -> None:
    _, keys, doc_hash = _real()
    with pytest.raises(KeyBindingError) as exc:
        verify_enclave_certificate(
            "garbage", domain="inference.tinfoil.sh", keys=keys, document_hash=doc_hash
        )
    assert exc.value.code is Code.CERT_MALFORMED


def test_dcode_requires_contiguous_unique_indices() -> None:
    value = bytes(range(32))
    sans = dcode_sans("hpke", value, "tinfoil.sh")
    assert len(sans) == 2
    assert decode_dcode(list(reversed(sans)), "hpke", "inference.tinfoil.sh") == value
    with pytest.raises(KeyBindingError):
        decode_dcode(sans[1:], "hpke", "inference.tinfoil.sh")  # gap: no 00
    with pytest.raises(KeyBindingError):
        decode_dcode([*sans, sans[0]], "hpke", "inference.tinfoil.sh")  # duplicate 00
    with pytest.raises(KeyBindingError):
        decode_dcode(sans, "hpke", "other.example.com")  # zone does not cover the domain
    with pytest.raises(KeyBindingError):
        decode_dcode(sans, "hatt", "inference.tinfoil.sh")  # none of that label


def test_generated_cert_binding_roundtrip() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    hpke = bytes(range(32))
    doc_hash = hashlib.sha256(b"doc").hexdigest()
    pem = make_enclave_cert("inference.tinfoil.sh", hpke=hpke, doc_hash=doc_hash, key=key)
    fp = spki_sha256(x509.load_pem_x509_certificate(pem.encode()))
    verify_enclave_certificate(
        pem, domain="inference.tinfoil.sh", keys=AttestedKeys(fp, hpke), document_hash=doc_hash
    )


def test_offered_key_binding() -> None:
    _, keys, _ = _real()
    rd = keys.tls_key_fingerprint + keys.hpke_public_key
    assert check_offered_hpke_key(rd, keys.hpke_public_key) == keys
    with pytest.raises(AttestationError) as exc:
        check_offered_hpke_key(rd, keys.tls_key_fingerprint)
    assert exc.value.code is Code.EHBP_KEY_BINDING_MISMATCH
    with pytest.raises(ValueError):
        check_offered_hpke_key(rd, keys.hpke_public_key + b"\0")
    with pytest.raises(ValueError):
        check_offered_hpke_key(rd[:63], keys.hpke_public_key)
