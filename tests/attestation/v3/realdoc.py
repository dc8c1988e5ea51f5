"""The real final-format v3 document (inference.tinfoil.sh, 2026-08-14) and mutation helpers.

Mutations edit the parsed document and serialise it again: the outer JSON formatting is not
covered by anything, while each base64 section keeps (or deliberately changes) its exact bytes.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
from typing import Any, Final

from attestation.provenance.trust import SigstoreTrust
from attestation.sev.roots import AmdTrust
from attestation.trust import Trust
from tests.conftest import data_path

REAL_NONCE: Final = bytes.fromhex(
    "7f31a89205a4636f21bebbd1622163c4ce66ee4ba9d83aba6a6f8ab3d9b69c63"
)
REPOSITORY: Final = "tinfoilsh/confidential-model-router"
DOMAIN: Final = "inference.tinfoil.sh"
# Inside the window: the fixture's own pinned time, and one minute before the deadline.
PINNED_TIME: Final = dt.datetime(2026, 8, 14, 15, 0, 30, tzinfo=dt.UTC)
DEADLINE: Final = dt.datetime(2026, 8, 20, 22, 57, 58, tzinfo=dt.UTC)
EARLIEST: Final = dt.datetime(2026, 8, 14, 0, 28, 37, tzinfo=dt.UTC)
REAL_HPKE: Final = "4539df144c761e852824083b1e0e23026ab8fec4fa0612ca16b2672a7a45983e"
REAL_TLS_FP: Final = "198c3340b8b007efdb5aa9b2bff68eb6776c4710f0731121f195c65e6410c232"
REAL_DIGEST: Final = "7dcf6bade47993752689e9574ae6fba39ebed0fa98427329fc184558488ad8f6"
REAL_CHIP: Final = (
    "1af1aa6c1f56037a05849a59b8815cf909583f9ba9ef2f053218c437f33ba183"
    "e4e415b039b37f8205250ad15f8b88a0a3add9f4c081c0779a48ed2214378e44"
)


def real_bytes() -> bytes:
    """The exact bytes the enclave served."""
    return data_path("v3", "real-sev-inference-tinfoil.document.json").read_bytes()


def real_doc() -> dict[str, Any]:
    """A fresh parsed copy to mutate."""
    return copy.deepcopy(json.loads(real_bytes()))


def dumps(doc: dict[str, Any]) -> bytes:
    """Serialise a (mutated) document."""
    return json.dumps(doc, separators=(",", ":")).encode()


def production_trust() -> Trust:
    """Pinned AMD trust with no chain loaded (the document's ASK/ARK must pass the pins)."""
    return Trust(amd=AmdTrust([], pinned=True), sigstore=SigstoreTrust.production())


def entry(doc: dict[str, Any], ident: str) -> dict[str, Any]:
    """The collateral entry with this id."""
    found: dict[str, Any] = next(c for c in doc["collateral"] if c["id"] == ident)
    return found


def flip_b64(text: str, offset: int) -> str:
    """Standard base64 of the decoded bytes with the byte at ``offset`` XOR 0x01."""
    raw = bytearray(base64.b64decode(text))
    raw[offset] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()
