"""Simulated Sigstore: sign an in-toto statement into a v0.3 bundle, and the root to trust it.

`SigstoreAuthority` bundles a simulated Fulcio CA, CT log and Rekor log. `sign_statement`
does what a GitHub release workflow plus the public-good instance do for a Tinfoil release
(docs/attestation.md V4.1): an ephemeral P-256 key, a Fulcio leaf for the workflow identity, a
DSSE envelope (`PAE("DSSEv1", payloadType, payload)`, ECDSA-SHA256), a Rekor dsse/0.0.1
entry with inclusion promise, inclusion proof and signed checkpoint.
`trusted_root_json` lists the CA, the Rekor key and the CT key in the protobuf-JSON shape of
`trusted_root.json` (no timestamp authorities: the bundle's time comes from Rekor).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Final

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from privproxy.simulator.fulcio import CtLog, FulcioCa, WorkflowIdentity, spki_der
from privproxy.simulator.rekor import RekorLog, dsse_entry_body

BUNDLE_MEDIA_TYPE: Final = "application/vnd.dev.sigstore.bundle.v0.3+json"
TRUSTED_ROOT_MEDIA_TYPE: Final = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
IN_TOTO_PAYLOAD_TYPE: Final = "application/vnd.in-toto+json"
IN_TOTO_STATEMENT_V1: Final = "https://in-toto.io/Statement/v1"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def in_toto_statement(
    *, subject_name: str, digest: str, predicate_type: str, predicate: dict[str, Any]
) -> bytes:
    """A compact in-toto Statement v1 with one subject."""
    statement = {
        "_type": IN_TOTO_STATEMENT_V1,
        "subject": [{"name": subject_name, "digest": {"sha256": digest}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    }
    return json.dumps(statement, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True, eq=False)
class SigstoreAuthority:
    """A simulated Fulcio + CT log + Rekor, created at `created`."""

    fulcio: FulcioCa
    ct_log: CtLog
    rekor: RekorLog
    created: dt.datetime

    @classmethod
    def generate(cls, now: dt.datetime) -> SigstoreAuthority:
        """Fresh keys for every component (in memory only)."""
        return cls(
            fulcio=FulcioCa.generate(now),
            ct_log=CtLog(ec.generate_private_key(ec.SECP256R1())),
            rekor=RekorLog(ec.generate_private_key(ec.SECP256R1())),
            created=now,
        )

    def sign_statement(
        self,
        statement: bytes,
        *,
        identity: WorkflowIdentity,
        signed_at: dt.datetime,
        payload_type: str = IN_TOTO_PAYLOAD_TYPE,
    ) -> dict[str, Any]:
        """A Sigstore bundle v0.3 (JSON object) for a DSSE envelope over `statement`."""
        signed_at = signed_at.replace(microsecond=0)
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = self.fulcio.issue_leaf(
            public_key=key.public_key(), identity=identity, not_before=signed_at, ct_log=self.ct_log
        )
        signature = key.sign(pae(payload_type, statement), ec.ECDSA(hashes.SHA256()))
        envelope = {
            "payload": _b64(statement),
            "payloadType": payload_type,
            "signatures": [{"sig": _b64(signature)}],
        }
        body = dsse_entry_body(
            envelope=envelope,
            payload=statement,
            cert_pem=leaf.public_bytes(serialization.Encoding.PEM),
        )
        # Rekor integrates the entry a few seconds after signing, inside the leaf's validity.
        integrated = int(signed_at.timestamp()) + 5
        entry = self.rekor.entry(body=body, integrated_time=integrated)
        return {
            "mediaType": BUNDLE_MEDIA_TYPE,
            "verificationMaterial": {
                "tlogEntries": [entry],
                "timestampVerificationData": {},
                "certificate": {"rawBytes": _b64(leaf.public_bytes(serialization.Encoding.DER))},
            },
            "dsseEnvelope": envelope,
        }

    def trusted_root(self) -> dict[str, Any]:
        """The `trusted_root.json` document (protobuf-JSON) that trusts this authority."""
        start = _iso(self.created - dt.timedelta(days=365))

        def log(base_url: str, key: ec.EllipticCurvePrivateKey, log_id: bytes) -> dict[str, Any]:
            return {
                "baseUrl": base_url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": _b64(spki_der(key.public_key())),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": start},
                },
                "logId": {"keyId": _b64(log_id)},
            }

        chain = [self.fulcio.intermediate, self.fulcio.root]
        return {
            "mediaType": TRUSTED_ROOT_MEDIA_TYPE,
            "tlogs": [
                log("https://rekor.simulated.invalid", self.rekor.private_key, self.rekor.log_id)
            ],
            "certificateAuthorities": [
                {
                    "subject": {
                        "organization": "sigstore.simulated.invalid",
                        "commonName": "sigstore",
                    },
                    "uri": "https://fulcio.simulated.invalid",
                    "certChain": {
                        "certificates": [
                            {"rawBytes": _b64(c.public_bytes(serialization.Encoding.DER))}
                            for c in chain
                        ]
                    },
                    "validFor": {"start": start},
                }
            ],
            "ctlogs": [
                log("https://ctfe.simulated.invalid", self.ct_log.private_key, self.ct_log.log_id)
            ],
            "timestampAuthorities": [],
        }

    def trusted_root_json(self) -> bytes:
        """`trusted_root()` serialised."""
        return json.dumps(self.trusted_root(), indent=1).encode()


__all__ = [
    "BUNDLE_MEDIA_TYPE",
    "IN_TOTO_PAYLOAD_TYPE",
    "IN_TOTO_STATEMENT_V1",
    "TRUSTED_ROOT_MEDIA_TYPE",
    "SigstoreAuthority",
    "in_toto_statement",
    "pae",
]
