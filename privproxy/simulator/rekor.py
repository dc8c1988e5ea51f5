"""A simulated Rekor (v1) transparency log: dsse/0.0.1 entries with every proof a bundle needs.

For one entry it produces what sigstore-python's `TransparencyLogEntry._verify` checks:

* `canonicalizedBody`: the dsse/0.0.1 body (payload hash, envelope hash, signatures with the
  base64 PEM of the signing certificate as verifier), canonical JSON;
* an RFC 6962 inclusion proof in a small tree of decoy leaves (leaf hash
  `SHA-256(0x00 || body)`, node hash `SHA-256(0x01 || l || r)`);
* a signed checkpoint (a "signed note": origin, size, base64 root, blank line, then
  `— <name> base64(keyid[:4] || sig)`);
* the inclusion promise (SET): the log key's signature over the canonical JSON of
  `{body, integratedTime, logID, logIndex}`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from privproxy.simulator.fulcio import key_id

LOG_NAME: Final = "rekor.simulated.invalid"
TREE_ID: Final = 1193050959916656506
#: Offset between the global `logIndex` and the shard-local inclusion-proof index, as on the
#: real log (the two differ there too, so a verifier must not equate them).
SHARD_OFFSET: Final = 121904262


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def canonical_json(value: Any) -> bytes:
    """RFC 8785 JSON for the shapes used here (ASCII strings, integers, objects, lists)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    # Largest power of two strictly smaller than n (RFC 6962 2.1).
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def merkle_root(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) over already-hashed leaves."""
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def audit_path(index: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) (RFC 6962 2.1.1), lowest level first."""
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*audit_path(index, leaves[:k]), merkle_root(leaves[k:])]
    return [*audit_path(index - k, leaves[k:]), merkle_root(leaves[:k])]


def dsse_entry_body(*, envelope: dict[str, Any], payload: bytes, cert_pem: bytes) -> bytes:
    """The canonicalized dsse/0.0.1 body Rekor stores for `envelope`."""
    body = {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {
                "algorithm": "sha256",
                "value": hashlib.sha256(canonical_json(envelope)).hexdigest(),
            },
            "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
            "signatures": [
                {"signature": s["sig"], "verifier": _b64(cert_pem)} for s in envelope["signatures"]
            ],
        },
    }
    return canonical_json(body)


@dataclass(frozen=True, slots=True, eq=False)
class RekorLog:
    """A simulated Rekor log: one P-256 key signing checkpoints and inclusion promises."""

    private_key: ec.EllipticCurvePrivateKey = field(repr=False)

    @property
    def log_id(self) -> bytes:
        """SHA-256 of the log key's SPKI (the bundle's `logId.keyId`)."""
        return key_id(self.private_key.public_key())

    def _sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data, ec.ECDSA(hashes.SHA256()))

    def checkpoint(self, *, tree_size: int, root: bytes) -> str:
        """A signed note for (tree_size, root)."""
        note = f"{LOG_NAME} - {TREE_ID}\n{tree_size}\n{_b64(root)}\n"
        sig = self.log_id[:4] + self._sign(note.encode())
        return f"{note}\n\u2014 {LOG_NAME} {_b64(sig)}\n"

    def entry(
        self, *, body: bytes, integrated_time: int, decoys: int = 6, position: int = 4
    ) -> dict[str, Any]:
        """A bundle `tlogEntries[]` item for `body`, logged among `decoys` other leaves."""
        leaves = [leaf_hash(os.urandom(32)) for _ in range(decoys)]
        leaves.insert(position, leaf_hash(body))
        root = merkle_root(leaves)
        proof_index = position
        log_index = SHARD_OFFSET + proof_index
        promise = canonical_json(
            {
                "body": _b64(body),
                "integratedTime": integrated_time,
                "logID": self.log_id.hex(),
                "logIndex": log_index,
            }
        )
        return {
            "logIndex": str(log_index),
            "logId": {"keyId": _b64(self.log_id)},
            "kindVersion": {"kind": "dsse", "version": "0.0.1"},
            "integratedTime": str(integrated_time),
            "inclusionPromise": {"signedEntryTimestamp": _b64(self._sign(promise))},
            "inclusionProof": {
                "logIndex": str(proof_index),
                "rootHash": _b64(root),
                "treeSize": str(len(leaves)),
                "hashes": [_b64(h) for h in audit_path(proof_index, leaves)],
                "checkpoint": {"envelope": self.checkpoint(tree_size=len(leaves), root=root)},
            },
            "canonicalizedBody": _b64(body),
        }


__all__ = [
    "LOG_NAME",
    "RekorLog",
    "audit_path",
    "canonical_json",
    "dsse_entry_body",
    "leaf_hash",
    "merkle_root",
    "node_hash",
]
