"""Explicit checks on Rekor transparency-log entries (docs/attestation.md V4.2 steps 7 and 10).

Per entry, in this order, each with its own code:

1. the entry is a ``dsse/0.0.1`` entry (Rekor v1), else BUNDLE_MALFORMED;
2. its log id names a Rekor key in the trust root (REKOR_KEY_NOT_TRUSTED);
3. the inclusion promise (SET), when present, verifies (REKOR_INCLUSION_INVALID);
4. the checkpoint is a well-formed signed note signed by that key (REKOR_INCLUSION_INVALID);
5. the checkpoint's root hash and size equal the proof's (CHECKPOINT_ROOT_MISMATCH);
6. the RFC 6962 audit path from the entry leaf reproduces that root (REKOR_INCLUSION_INVALID);

and, separately (:func:`check_entry_body`, run after the DSSE signature check so a forged
signature is reported as such): the entry body records this envelope's payload hash and
signature (REKOR_INCLUSION_INVALID).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from attestation.errors import Code, ProvenanceError
from attestation.provenance.bundle import DsseEnvelope, InclusionProof, TlogEntry
from attestation.provenance.sigcrypto import signature_valid
from attestation.provenance.trust import LogKey, TrustMaterial

_NOTE_SIGNATURE: Final = re.compile(r"\u2014 (\S+) (\S+)\n")


def _inclusion_invalid(message: str) -> ProvenanceError:
    return ProvenanceError(Code.REKOR_INCLUSION_INVALID, message)


def _check_set(entry: TlogEntry, key: LogKey) -> None:
    if entry.signed_entry_timestamp is None or entry.integrated_time is None:
        return
    # The SET signs the RFC 8785 form of these four members. With only ASCII strings and
    # integers, sorted keys and no whitespace is exactly RFC 8785.
    canonical = json.dumps(
        {
            "body": base64.b64encode(entry.body).decode(),
            "integratedTime": entry.integrated_time,
            "logID": entry.log_id.hex(),
            "logIndex": entry.log_index,
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    if not signature_valid(key.key, entry.signed_entry_timestamp, canonical):
        raise _inclusion_invalid("inclusion promise (SET) signature does not verify")


def _check_checkpoint(proof: InclusionProof, key: LogKey) -> None:
    text = proof.checkpoint
    if text.count("\n\n") != 1:
        raise _inclusion_invalid("checkpoint is not a signed note")
    split = text.index("\n\n")
    note, signatures = text[: split + 1], text[split + 2 :]
    if not signatures.endswith("\n"):
        raise _inclusion_invalid("checkpoint signature block must end with a newline")
    verified = False
    for _name, sig_b64 in _NOTE_SIGNATURE.findall(signatures):
        try:
            blob = base64.b64decode(sig_b64, validate=True)
        except (binascii.Error, ValueError):
            continue
        # Key hint: the first 4 bytes of the log id (sha256 of the log's SPKI).
        if len(blob) > 4 and blob[:4] == key.log_id[:4]:
            verified = signature_valid(key.key, blob[4:], note.encode())
            break
    if not verified:
        raise _inclusion_invalid("checkpoint is not signed by the entry's Rekor key")
    lines = note.rstrip("\n").split("\n")
    if len(lines) < 3 or not lines[0]:
        raise _inclusion_invalid("checkpoint note is malformed")
    try:
        size = int(lines[1])
        root = base64.b64decode(lines[2], validate=True)
    except (ValueError, binascii.Error) as exc:
        raise _inclusion_invalid("checkpoint size or root hash is malformed") from exc
    if root != proof.root_hash or size != proof.tree_size:
        raise ProvenanceError(
            Code.CHECKPOINT_ROOT_MISMATCH,
            "inclusion proof root hash / tree size differ from the signed checkpoint",
        )


def _hash_children(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root_from_proof(
    leaf_index: int, tree_size: int, leaf: bytes, path: tuple[bytes, ...]
) -> bytes:
    """RFC 9162 §2.1.3.2: recompute the root from an audit path (raises ValueError)."""
    if leaf_index >= tree_size:
        raise ValueError("leaf index beyond tree size")
    fn, sn = leaf_index, tree_size - 1
    node = hashlib.sha256(b"\x00" + leaf).digest()
    for sibling in path:
        if len(sibling) != 32:
            raise ValueError("audit path hash is not 32 bytes")
        if sn == 0:
            raise ValueError("audit path too long")
        if fn & 1 or fn == sn:
            node = _hash_children(sibling, node)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            node = _hash_children(node, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("audit path too short")
    return node


def _check_inclusion(entry: TlogEntry) -> None:
    proof = entry.inclusion_proof
    try:
        root = merkle_root_from_proof(proof.log_index, proof.tree_size, entry.body, proof.hashes)
    except ValueError as exc:
        raise _inclusion_invalid(f"inclusion proof is malformed: {exc}") from exc
    if root != proof.root_hash:
        raise _inclusion_invalid("inclusion proof does not reproduce the root hash")


def check_entry_body(entry: TlogEntry, envelope: DsseEnvelope, leaf: x509.Certificate) -> None:
    """The dsse/0.0.1 body records this envelope's payload hash and signature (V4.2 step 10)."""
    try:
        body: Any = json.loads(entry.body)
        spec = body["spec"]
        payload_hash = spec["payloadHash"]
        recorded = [(s["signature"], s["verifier"]) for s in spec["signatures"]]
        ok_kind = body["kind"] == "dsse" and body["apiVersion"] == "0.0.1"
    except (ValueError, KeyError, TypeError) as exc:
        raise _inclusion_invalid("log entry body is not a dsse/0.0.1 record") from exc
    pem = leaf.public_bytes(serialization.Encoding.PEM)
    expected = [(base64.b64encode(envelope.signature).decode(), base64.b64encode(pem).decode())]
    digest = hashlib.sha256(envelope.payload).hexdigest()
    if (
        not ok_kind
        or not isinstance(payload_hash, dict)
        or payload_hash.get("algorithm") != "sha256"
        or payload_hash.get("value") != digest
        or recorded != expected
    ):
        raise _inclusion_invalid("log entry does not record this envelope and signature")


def check_tlog_entry(entry: TlogEntry, material: TrustMaterial) -> None:
    """Run checks 1-6 from the module docstring on one entry."""
    if (entry.kind, entry.version) != ("dsse", "0.0.1"):
        raise ProvenanceError(
            Code.BUNDLE_MALFORMED,
            f"unsupported transparency-log entry {entry.kind}/{entry.version} (need dsse/0.0.1)",
        )
    key = material.rekor_key(entry.log_id)
    if key is None:
        raise ProvenanceError(
            Code.REKOR_KEY_NOT_TRUSTED, f"Rekor log {entry.log_id.hex()} is not in the trust root"
        )
    _check_set(entry, key)
    _check_checkpoint(entry.inclusion_proof, key)
    _check_inclusion(entry)


__all__ = ["check_entry_body", "check_tlog_entry", "merkle_root_from_proof"]
