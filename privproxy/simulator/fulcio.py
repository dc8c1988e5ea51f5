"""A simulated Fulcio CA and CT log: short-lived code-signing leaves for a GitHub workflow.

Structure copied from the production Sigstore material (docs/attestation.md V4; sigstore-python's
`Verifier._verify_chain_at_time` and `_internal/sct.py` are the ground truth for what
verifies):

* root (`CN=sigstore`, self-signed, P-384) -> intermediate (`CN=sigstore-intermediate`,
  pathlen 0, EKU codeSigning) -> leaf (empty subject, EC P-256, critical URI SAN naming the
  workflow, KeyUsage digitalSignature, EKU codeSigning, 10-minute validity);
* the GitHub Actions OIDC extensions under 1.3.6.1.4.1.57264.1: `.1`-`.6` hold raw bytes,
  `.8` onwards a DER UTF8String, exactly as on a real Fulcio leaf;
* one embedded SCT (precertificate entry, RFC 6962 3.2) signed by the simulated CT log key
  over the issuer key hash and the leaf's TBS without the SCT extension.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import struct
from dataclasses import dataclass, field
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from privproxy.simulator import der

GITHUB_ISSUER: Final = "https://token.actions.githubusercontent.com"
FULCIO_OID: Final = "1.3.6.1.4.1.57264.1"
SCT_LIST_OID: Final = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
LEAF_LIFETIME: Final = dt.timedelta(minutes=10)


def spki_der(key: ec.EllipticCurvePublicKey) -> bytes:
    """DER SubjectPublicKeyInfo of `key`."""
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id(key: ec.EllipticCurvePublicKey) -> bytes:
    """RFC 6962 key/log id: SHA-256 of the DER SubjectPublicKeyInfo."""
    return hashlib.sha256(spki_der(key)).digest()


@dataclass(frozen=True, slots=True)
class WorkflowIdentity:
    """The GitHub Actions run a leaf certificate vouches for."""

    repository: str = "tinfoilsh/confidential-model-router"
    ref: str = "refs/tags/v0.0.38"
    workflow_path: str = ".github/workflows/build.yml"
    workflow_name: str = "Docker Build and Publish"
    issuer: str = GITHUB_ISSUER
    event: str = "push"
    sha: str = field(default_factory=lambda: os.urandom(20).hex())
    repository_id: str = "1077094187"
    owner_id: str = "168487856"
    run_id: str = "21267286193"

    @property
    def build_signer_uri(self) -> str:
        """`https://github.com/<repo>/<workflow>@<ref>` (SAN and extension .9)."""
        return f"https://github.com/{self.repository}/{self.workflow_path}@{self.ref}"

    def extensions(self) -> list[x509.UnrecognizedExtension]:
        """The Fulcio OIDC extensions in a real leaf's order and encodings."""
        owner = self.repository.split("/", 1)[0]
        repo_url = f"https://github.com/{self.repository}"
        raw = {
            "1": self.issuer,  # V1 issuer, raw bytes (V4.2 step 6)
            "2": self.event,
            "3": self.sha,
            "4": self.workflow_name,
            "5": self.repository,  # GitHubWorkflowRepository, raw
            "6": self.ref,  # GitHubWorkflowRef, raw
        }
        utf8 = {
            "8": self.issuer,  # V2 issuer, DER UTF8String
            "9": self.build_signer_uri,
            "10": self.sha,
            "11": "github-hosted",
            "12": repo_url,
            "13": self.sha,
            "14": self.ref,
            "15": self.repository_id,
            "16": f"https://github.com/{owner}",
            "17": self.owner_id,
            "18": self.build_signer_uri,
            "19": self.sha,
            "20": self.event,
            "21": f"{repo_url}/actions/runs/{self.run_id}/attempts/1",
            "22": "public",
        }
        exts = [_fulcio(k, v.encode()) for k, v in raw.items()]
        exts += [_fulcio(k, der.utf8_string(v)) for k, v in utf8.items()]
        return exts


def _fulcio(suffix: str, value: bytes) -> x509.UnrecognizedExtension:
    return x509.UnrecognizedExtension(x509.ObjectIdentifier(f"{FULCIO_OID}.{suffix}"), value)


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(False, False, False, False, False, True, True, False, False)


def _signing_usage() -> x509.KeyUsage:
    return x509.KeyUsage(True, False, False, False, False, False, False, False, False)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sigstore.simulated.invalid"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@dataclass(frozen=True, slots=True, eq=False)
class CtLog:
    """A simulated certificate-transparency log: one P-256 key that signs SCTs."""

    private_key: ec.EllipticCurvePrivateKey = field(repr=False)

    @property
    def log_id(self) -> bytes:
        """RFC 6962 log id (SHA-256 of the key's SPKI)."""
        return key_id(self.private_key.public_key())

    def sct_list(self, *, tbs: bytes, issuer_key_hash: bytes, when: dt.datetime) -> bytes:
        """A TLS-encoded SignedCertificateTimestampList holding one v1 precert SCT."""
        # Whole seconds: sigstore recomputes the milliseconds through a float.
        millis = int(when.timestamp()) * 1000
        signed = struct.pack("!BBQH", 0, 0, millis, 1) + issuer_key_hash
        signed += len(tbs).to_bytes(3, "big") + tbs + struct.pack("!H", 0)
        sig = self.private_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        # version 0 (v1), log id, timestamp, no extensions, SHA-256 (4) with ECDSA (3)
        sct = struct.pack("!B", 0) + self.log_id + struct.pack("!QH", millis, 0)
        sct += struct.pack("!BBH", 4, 3, len(sig)) + sig
        item = struct.pack("!H", len(sct)) + sct
        return struct.pack("!H", len(item)) + item


@dataclass(frozen=True, slots=True, eq=False)
class FulcioCa:
    """A simulated Fulcio root and intermediate, able to issue code-signing leaves."""

    root: x509.Certificate
    intermediate: x509.Certificate
    _intermediate_key: ec.EllipticCurvePrivateKey = field(repr=False)

    @classmethod
    def generate(cls, now: dt.datetime) -> FulcioCa:
        """A fresh root + intermediate, valid from a year before `now` for ten years."""
        root_key = ec.generate_private_key(ec.SECP384R1())
        inter_key = ec.generate_private_key(ec.SECP384R1())
        start, end = now - dt.timedelta(days=365), now + dt.timedelta(days=3650)
        root_ski = x509.SubjectKeyIdentifier.from_public_key(root_key.public_key())
        root = (
            x509.CertificateBuilder()
            .subject_name(_name("sigstore"))
            .issuer_name(_name("sigstore"))
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(_ca_usage(), critical=True)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(root_ski, critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski), False
            )
            .sign(root_key, hashes.SHA384())
        )
        intermediate = (
            x509.CertificateBuilder()
            .subject_name(_name("sigstore-intermediate"))
            .issuer_name(root.subject)
            .public_key(inter_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(_ca_usage(), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(inter_key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski), False
            )
            .sign(root_key, hashes.SHA384())
        )
        return cls(root=root, intermediate=intermediate, _intermediate_key=inter_key)

    def issue_leaf(
        self,
        *,
        public_key: ec.EllipticCurvePublicKey,
        identity: WorkflowIdentity,
        not_before: dt.datetime,
        ct_log: CtLog,
    ) -> x509.Certificate:
        """A 10-minute code-signing leaf for `identity` with one embedded SCT."""
        inter_pub = self.intermediate.public_key()
        if not isinstance(inter_pub, ec.EllipticCurvePublicKey):
            raise TypeError("the simulated Fulcio intermediate has an EC key")
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.intermediate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_before + LEAF_LIFETIME)
            .add_extension(_signing_usage(), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(inter_pub), False)
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.UniformResourceIdentifier(identity.build_signer_uri)]
                ),
                critical=True,  # the subject is empty (RFC 5280 4.2.1.6)
            )
        )
        for ext in identity.extensions():
            builder = builder.add_extension(ext, critical=False)
        # The SCT signs the TBS *without* the SCT extension; appending that extension last
        # to an otherwise identical builder keeps the precertificate TBS byte-identical.
        precert = builder.sign(self._intermediate_key, hashes.SHA384())
        sct_list = ct_log.sct_list(
            tbs=precert.tbs_certificate_bytes,
            issuer_key_hash=key_id(inter_pub),
            when=not_before,
        )
        leaf = builder.add_extension(
            x509.UnrecognizedExtension(SCT_LIST_OID, der.octet_string(sct_list)), critical=False
        ).sign(self._intermediate_key, hashes.SHA384())
        if leaf.tbs_precertificate_bytes != precert.tbs_certificate_bytes:
            raise AssertionError("precertificate TBS changed when the SCT was embedded")
        return leaf


__all__ = [
    "FULCIO_OID",
    "GITHUB_ISSUER",
    "CtLog",
    "FulcioCa",
    "WorkflowIdentity",
    "key_id",
    "spki_der",
]
