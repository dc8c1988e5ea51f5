"""RFC 9458 `key_config` parsing (docs/protocol.md §3.2), for `/.well-known/hpke-keys` delivery.

Layout: `key_id(1) | kem_id(2) | public_key(Npk) | cipher_suites_length(2)`
`| (kdf_id(2) aead_id(2))*`.
The EHBP server emits one bare 41-byte config; RFC 9458's `application/ohttp-keys` wraps each
config in a 2-byte length. Both are accepted. Like the reference clients, only the first cipher
suite of a config is considered, and only X25519 / HKDF-SHA256 / AES-256-GCM is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass

from privproxy.ehbp.errors import EhbpProtocolError
from privproxy.ehbp.protocol import (
    AEAD_AES_256_GCM,
    KDF_HKDF_SHA256,
    KEM_X25519_HKDF_SHA256,
    X25519_KEY_LENGTH,
)

_SUITE_LENGTH = 4
_HEADER_LENGTH = 3  # key_id + kem_id


@dataclass(frozen=True, slots=True)
class KeyConfig:
    """One supported key configuration: the enclave's X25519 public key and its suite."""

    key_id: int
    kem_id: int
    public_key: bytes
    kdf_id: int
    aead_id: int


def _parse_one(data: bytes) -> KeyConfig:
    """Parse exactly one config spanning all of `data`; raise on any deviation."""
    if len(data) < _HEADER_LENGTH:
        raise EhbpProtocolError("key config truncated")
    key_id = data[0]
    kem_id = int.from_bytes(data[1:3], "big")
    if kem_id != KEM_X25519_HKDF_SHA256:
        raise EhbpProtocolError(f"unsupported HPKE KEM 0x{kem_id:04x} (need X25519/HKDF-SHA256)")
    pk_end = _HEADER_LENGTH + X25519_KEY_LENGTH
    if len(data) < pk_end + 2:
        raise EhbpProtocolError("key config truncated")
    public_key = data[_HEADER_LENGTH:pk_end]
    suites_length = int.from_bytes(data[pk_end : pk_end + 2], "big")
    suites = data[pk_end + 2 :]
    if suites_length == 0 or suites_length % _SUITE_LENGTH or suites_length != len(suites):
        raise EhbpProtocolError("key config cipher suite list is malformed")
    kdf_id = int.from_bytes(suites[0:2], "big")
    aead_id = int.from_bytes(suites[2:4], "big")
    if kdf_id != KDF_HKDF_SHA256 or aead_id != AEAD_AES_256_GCM:
        raise EhbpProtocolError(
            f"unsupported HPKE suite kdf 0x{kdf_id:04x} aead 0x{aead_id:04x}"
            " (need HKDF-SHA256/AES-256-GCM)"
        )
    return KeyConfig(key_id, kem_id, public_key, kdf_id, aead_id)


def parse_key_config(data: bytes) -> KeyConfig:
    """Parse a bare `key_config` or an `application/ohttp-keys` list (first entry is used)."""
    data = bytes(data)
    # A bare config's first two bytes are key_id and 0x00 (high byte of kem_id 0x0020); read as
    # a uint16 length that is a multiple of 256, never the length of a config that follows it.
    if len(data) >= 2:
        declared = int.from_bytes(data[0:2], "big")
        if declared and declared % 256 and 2 + declared <= len(data):
            return _parse_one(data[2 : 2 + declared])
    return _parse_one(data)


__all__ = ["KeyConfig", "parse_key_config"]
