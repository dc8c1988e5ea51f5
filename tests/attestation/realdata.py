"""Test data helpers: the real Genoa bundle, AMD roots, and synthetic re-signed variants.

Everything is read from tests/data (see tests/data/SOURCES.md) through `tests.conftest.data_path`.
The synthetic SEV chain (ARK/ASK/VCEK *with the VCEK private key*) is the conformance suite's
`_assets/synth_chain`; it lets rejection tests change signed report fields and re-sign them,
so that one check at a time fails. It is only ever trusted through
`AmdTrust.unpinned_for_testing`.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from attestation.keys import spki_sha256
from attestation.sev.roots import AmdTrust
from tests.conftest import data_path

# A fixed "today" for hermetic tests: inside the real VCEK's validity (2026-01-11..2033-01-11),
# after the enclave TLS certificate expired (2026-04-22), which verification ignores by design.
FIXED_NOW: Final = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
REAL_MEASUREMENT: Final = (
    "09ef32acf90fcfeb6206d1a46c13145cef736ebb"
    "b83f18eaff680b686232031546ff5fd39c44599699ee8734cbbeb519"
)
REAL_HPKE_KEY: Final = "3565781f4ee796cfb144df2a31a3ae5e87747bb5ba91aafc6b80e2e268b8603d"
REAL_TLS_FP: Final = "71c31f35d2b06077bbae7c1ddf0cc4020408c8f39c68b04cf3d029d40bdd45e7"
REAL_DIGEST: Final = "5ed9d5c942528ec2eeb759919827f1bc2183c6810f80225a52147dd4020c12a0"


def real_bundle_bytes() -> bytes:
    """The real production bundle (router inference.tinfoil.sh, Genoa)."""
    return data_path("attestation", "sev", "real_genoa_bundle.json").read_bytes()


def real_bundle() -> dict[str, Any]:
    """The real bundle as a JSON object (a fresh copy each call)."""
    data: dict[str, Any] = json.loads(real_bundle_bytes())
    return data


def second_report() -> bytes:
    """The second real report (same chip and TCB as the bundle's VCEK)."""
    return data_path("attestation", "sev", "second_genoa_report.bin").read_bytes()


def amd_chain_files() -> list[Path]:
    """The AMD KDS cert_chain PEMs of all three products."""
    return sorted(data_path("trust", "amd").glob("*_cert_chain.pem"))


def pinned_amd() -> AmdTrust:
    """Production-style pinned AMD trust from the shared KDS copies."""
    return AmdTrust.pinned_from_files(amd_chain_files())


def report_of(bundle: dict[str, Any]) -> bytes:
    """The raw report inside a bundle object."""
    return gzip.decompress(base64.b64decode(bundle["enclaveAttestationReport"]["body"]))


def vcek_of(bundle: dict[str, Any]) -> bytes:
    """The DER VCEK inside a bundle object."""
    return base64.b64decode(bundle["vcek"])


def encode_report(raw: bytes) -> str:
    """base64(gzip(raw)), as the bundle carries it."""
    return base64.b64encode(gzip.compress(raw, mtime=0)).decode()


def with_report(bundle: dict[str, Any], raw: bytes) -> dict[str, Any]:
    """A copy of ``bundle`` carrying ``raw`` as its report."""
    out: dict[str, Any] = json.loads(json.dumps(bundle))
    out["enclaveAttestationReport"]["body"] = encode_report(raw)
    return out


def dumps(bundle: dict[str, Any]) -> bytes:
    """Bundle object → bytes as served."""
    return json.dumps(bundle).encode()


def flip(data: bytes, offset: int) -> bytes:
    """``data`` with the byte at ``offset`` inverted."""
    b = bytearray(data)
    b[offset] ^= 0xFF
    return bytes(b)


# ---- synthetic chain (conformance _assets/synth_chain) ----


def _synth(name: str) -> Path:
    return data_path("conformance", "vectors", "attestation-sev", "_assets", "synth_chain", name)


def synth_amd() -> AmdTrust:
    """Unpinned trust in the synthetic ARK/ASK."""
    return AmdTrust.unpinned_for_testing(
        _synth("ark.pem").read_bytes(), _synth("ask.pem").read_bytes()
    )


def synth_vcek_der() -> bytes:
    """The synthetic VCEK certificate."""
    return _synth("vcek_cert.der").read_bytes()


def synth_base_report() -> bytes:
    """A valid report signed by the synthetic VCEK (conformance fixture 604)."""
    path = data_path(
        "conformance", "vectors", "attestation-sev", "604-synth-baseline-accept", "input.json"
    )
    return gzip.decompress(base64.b64decode(json.loads(path.read_text())["attestation_doc_b64"]))


def sign_report(raw: bytes) -> bytes:
    """Re-sign report[0:0x2A0] with the synthetic VCEK key (r, s little-endian, 72 bytes)."""
    key = serialization.load_pem_private_key(_synth("vcek_priv.pem").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    r, s = decode_dss_signature(key.sign(raw[:0x2A0], ec.ECDSA(hashes.SHA384())))
    sig = r.to_bytes(72, "little") + s.to_bytes(72, "little")
    return raw[:0x2A0] + sig + raw[0x2A0 + 144 :]


def patch(raw: bytes, offset: int, value: bytes) -> bytes:
    """``raw`` with ``value`` written at ``offset``."""
    return raw[:offset] + value + raw[offset + len(value) :]


def dcode_sans(label: str, value: bytes, zone: str) -> list[str]:
    """Encode ``value`` as dcode SANs ``NN<base32 chunk>.<label>.<zone>``."""
    text = base64.b32encode(value).decode().rstrip("=").lower()
    chunks = [text[i : i + 40] for i in range(0, len(text), 40)]
    return [f"{i:02d}{c}.{label}.{zone}" for i, c in enumerate(chunks)]


def make_enclave_cert(
    domain: str,
    *,
    hpke: bytes,
    doc_hash: str,
    key: ec.EllipticCurvePrivateKey,
    zone: str = "tinfoil.sh",
) -> str:
    """A self-signed enclave TLS certificate carrying the given bindings in its SANs."""
    sans = [
        domain,
        f"*.{domain}",
        *dcode_sans("hpke", hpke, zone),
        *dcode_sans("hatt", doc_hash.encode(), zone),
    ]
    cert = self_signed_cert(
        key,
        domain,
        [x509.DNSName(s) for s in sans],
        valid=(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 2, 1, tzinfo=dt.UTC)),
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def self_signed_cert(
    key: ec.EllipticCurvePrivateKey,
    common_name: str,
    sans: list[x509.GeneralName],
    *,
    valid: tuple[dt.datetime, dt.datetime],
) -> x509.Certificate:
    """A self-signed certificate (serial 1, SHA-256) for ``common_name`` with these SANs."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )


def synthetic_bundle(
    *,
    report_data: bytes | None = None,
    cert_hpke: bytes | None = None,
    cert_doc_hash: str | None = None,
    domain: str = "inference.tinfoil.sh",
    cert_domain: str | None = None,
) -> bytes:
    """The real bundle with a synthetic report (real measurement, our own keys) and cert.

    By default everything binds: report_data = sha256(SPKI of a fresh TLS key) || HPKE key,
    and the cert's SANs carry that HPKE key and the document hash. Each argument breaks one
    binding. Verify it with ``synth_amd()``.
    """
    tls_key = ec.generate_private_key(ec.SECP384R1())
    hpke = bytes(range(32))
    bundle = real_bundle()
    cert_for_fp = make_enclave_cert(domain, hpke=hpke, doc_hash="0" * 64, key=tls_key)
    spki = spki_sha256(x509.load_pem_x509_certificate(cert_for_fp.encode()))
    data = report_data if report_data is not None else spki + hpke
    raw = patch(synth_base_report(), 0x50, data)
    raw = sign_report(patch(raw, 0x90, bytes.fromhex(REAL_MEASUREMENT)))
    bundle = with_report(bundle, raw)
    bundle["domain"] = domain
    bundle["vcek"] = base64.b64encode(synth_vcek_der()).decode()
    doc = bundle["enclaveAttestationReport"]
    doc_hash = hashlib.sha256((doc["format"] + doc["body"]).encode()).hexdigest()
    bundle["enclaveCert"] = make_enclave_cert(
        cert_domain or domain,
        hpke=cert_hpke if cert_hpke is not None else hpke,
        doc_hash=cert_doc_hash if cert_doc_hash is not None else doc_hash,
        key=tls_key,
    )
    return dumps(bundle)


def real_bundle_with_foreign_tls_key() -> bytes:
    """The real bundle whose enclaveCert carries the right hpke/hatt SANs but another key.

    Domain, hpke and hatt bindings all hold; only sha256(SPKI) != report_data[0:32].
    """
    bundle = real_bundle()
    doc = bundle["enclaveAttestationReport"]
    doc_hash = hashlib.sha256((doc["format"] + doc["body"]).encode()).hexdigest()
    bundle["enclaveCert"] = make_enclave_cert(
        bundle["domain"],
        hpke=bytes.fromhex(REAL_HPKE_KEY),
        doc_hash=doc_hash,
        key=ec.generate_private_key(ec.SECP384R1()),
    )
    return dumps(bundle)
