"""EHBP wire constants (docs/protocol.md §3.1-3.4); they must match the EHBP specification."""

from __future__ import annotations

from typing import Final

ENCAPSULATED_KEY_HEADER: Final = "Ehbp-Encapsulated-Key"
"""Request header carrying lowercase hex of the 32-byte HPKE `enc` (docs/protocol.md §3.1)."""

RESPONSE_NONCE_HEADER: Final = "Ehbp-Response-Nonce"
"""Response header carrying hex of the server's 32-byte random response nonce (§3.1)."""

KEY_CONFIG_PROBLEM_TYPE: Final = "urn:ietf:params:ehbp:error:key-config"
"""`type` of the 422 `application/problem+json` answer to a stale or wrong key (§3.3)."""

HPKE_REQUEST_INFO: Final = b"ehbp request"
"""HPKE `info` for the request sender context (docs/protocol.md §3.1)."""

HPKE_EXPORT_LABEL: Final = b"ehbp response"
"""Exporter context for the response secret (docs/protocol.md §3.1)."""

EXPORT_LENGTH: Final = 32
RESPONSE_KEY_LABEL: Final = b"key"
RESPONSE_NONCE_LABEL: Final = b"nonce"
RESPONSE_NONCE_LENGTH: Final = 32
"""Bytes of the `Ehbp-Response-Nonce` value (64 hex characters)."""

KEM_X25519_HKDF_SHA256: Final = 0x0020
KDF_HKDF_SHA256: Final = 0x0001
AEAD_AES_256_GCM: Final = 0x0002

X25519_KEY_LENGTH: Final = 32
AES_KEY_LENGTH: Final = 32
AEAD_NONCE_LENGTH: Final = 12
AEAD_TAG_LENGTH: Final = 16
FRAME_HEADER_LENGTH: Final = 4
"""Every frame is `uint32be(len(ciphertext)) || ciphertext` (docs/protocol.md §3.3)."""

MAX_REQUEST_FRAME: Final = 64 * 1024
"""Plaintext bytes per request frame; tinfoil-ehbp 0.4.x cuts bodies the same way (§3.3)."""

MAX_RESPONSE_FRAME: Final = 64 * 1024 * 1024
"""Cap on one response frame's ciphertext length; matches the router's 64 MiB limit (§7)."""
