"""The simulated enclave's TLS certificate, with the key-binding SANs of docs/protocol.md §2.3.

Like tfshim, the certificate lists the domain, its wildcard, and "dcode" labels carrying the
HPKE public key (`NN<chunk>.hpke.<suffix>`) and the attestation-document hash
(`NN<chunk>.hatt.<suffix>`): lowercase unpadded base32, cut into 45-character chunks (the
chunk length seen on the real certificate), `NN` a two-digit index. `<suffix>` is the last two
labels of the domain (the real one uses the domain's eTLD+1, e.g. `tinfoil.sh`).

The real certificate is issued by a public CA; no verifier checks that chain (docs/protocol.md §2.5
step 4), so the simulated one is self-issued by the enclave's own TLS key (ECDSA P-384).
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DCODE_CHUNK: Final = 45


def dcode_labels(data: bytes, prefix: str, suffix: str) -> list[str]:
    """Encode `data` as dcode SANs `NN<chunk>.<prefix>.<suffix>` (docs/protocol.md §2.3)."""
    text = base64.b32encode(data).decode("ascii").rstrip("=").lower()
    chunks = [text[i : i + DCODE_CHUNK] for i in range(0, len(text), DCODE_CHUNK)]
    if len(chunks) > 100:
        raise ValueError("too much data for two-digit dcode indices")
    return [f"{i:02d}{chunk}.{prefix}.{suffix}" for i, chunk in enumerate(chunks)]


def san_suffix(domain: str) -> str:
    """The last two labels of `domain` (stands in for its eTLD+1; no public-suffix list)."""
    labels = domain.split(".")
    return ".".join(labels[-2:]) if len(labels) >= 2 else domain


def build_enclave_cert(
    *,
    domain: str,
    tls_key: ec.EllipticCurvePrivateKey,
    hpke_public_key: bytes,
    attestation_hash_hex: str,
    now: dt.datetime,
) -> x509.Certificate:
    """A TLS leaf for `domain` whose SANs bind `hpke_public_key` and the document hash."""
    suffix = san_suffix(domain)
    names: list[x509.GeneralName] = [x509.DNSName(domain), x509.DNSName(f"*.{domain}")]
    names += [x509.DNSName(n) for n in dcode_labels(hpke_public_key, "hpke", suffix)]
    names += [
        x509.DNSName(n) for n in dcode_labels(attestation_hash_hex.encode("ascii"), "hatt", suffix)
    ]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(tls_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=89))
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(tls_key.public_key()), False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(tls_key, hashes.SHA384())
    )


__all__ = ["DCODE_CHUNK", "build_enclave_cert", "dcode_labels", "san_suffix"]
