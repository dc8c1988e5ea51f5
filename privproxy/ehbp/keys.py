"""Response key derivation (docs/protocol.md §3.4) and the response nonce header check.

`prk = HMAC-SHA256(key = enc || nonce, msg = exported_secret)`, `key = HKDF-Expand(prk, "key", 32)`,
`nonce_base = HKDF-Expand(prk, "nonce", 12)`: plain RFC 5869, not HPKE's labeled variant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from privproxy.ehbp.errors import EhbpProtocolError
from privproxy.ehbp.hmac256 import hmac_sha256
from privproxy.ehbp.protocol import (
    AEAD_NONCE_LENGTH,
    AES_KEY_LENGTH,
    EXPORT_LENGTH,
    RESPONSE_KEY_LABEL,
    RESPONSE_NONCE_HEADER,
    RESPONSE_NONCE_LABEL,
    RESPONSE_NONCE_LENGTH,
    X25519_KEY_LENGTH,
)

# bytes.fromhex() accepts whitespace, so the shape is checked explicitly first.
_NONCE_HEX: Final = re.compile(r"[0-9a-fA-F]{%d}" % (2 * RESPONSE_NONCE_LENGTH))  # noqa: UP031
# Single-block HKDF-Expand infos: label || 0x01 (both outputs are <= 32 bytes).
_KEY_INFO: Final = RESPONSE_KEY_LABEL + b"\x01"
_NONCE_INFO: Final = RESPONSE_NONCE_LABEL + b"\x01"


@dataclass(frozen=True, slots=True)
class ResponseKeys:
    """AES-256-GCM key and 12-byte nonce base of one response; redacted in `repr`."""

    key: bytes = field(repr=False)
    nonce_base: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.key) != AES_KEY_LENGTH or len(self.nonce_base) != AEAD_NONCE_LENGTH:
            raise ValueError("response key must be 32 bytes and nonce base 12 bytes")


def derive_response_keys(exported_secret: bytes, enc: bytes, nonce: bytes) -> ResponseKeys:
    """Derive the response keys from the session secret and the server's 32-byte nonce."""
    if len(exported_secret) != EXPORT_LENGTH or len(enc) != X25519_KEY_LENGTH:
        raise ValueError("exported secret and enc must be 32 bytes each")
    if len(nonce) != RESPONSE_NONCE_LENGTH:
        raise EhbpProtocolError(f"{RESPONSE_NONCE_HEADER} must be {RESPONSE_NONCE_LENGTH} bytes")
    prk = hmac_sha256(enc + nonce, exported_secret)
    key = hmac_sha256(prk, _KEY_INFO)
    nonce_base = hmac_sha256(prk, _NONCE_INFO)[:AEAD_NONCE_LENGTH]
    return ResponseKeys(key=key, nonce_base=nonce_base)


def parse_nonce_header(value: str | None) -> bytes:
    """Decode an `Ehbp-Response-Nonce` header value; raise when missing or not 64 hex characters.

    A missing nonce on a 2xx is the body-substitution case the spec requires to fail (§3.5).
    """
    if value is None:
        raise EhbpProtocolError(f"missing {RESPONSE_NONCE_HEADER} header")
    if _NONCE_HEX.fullmatch(value) is None:
        raise EhbpProtocolError(
            f"malformed {RESPONSE_NONCE_HEADER} header (expected {2 * RESPONSE_NONCE_LENGTH} hex)"
        )
    return bytes.fromhex(value)


__all__ = ["ResponseKeys", "derive_response_keys", "parse_nonce_header"]
