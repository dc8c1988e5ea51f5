"""The handful of DER encoders the simulator needs for raw certificate extension values.

`cryptography` writes standard extensions itself; AMD's KDS extensions and Fulcio's OIDC
extensions are written as `UnrecognizedExtension`s whose bytes we produce here, encoded
exactly as the real certificates encode them (docs/attestation.md V2.2 step 4, V4.2 step 6).
"""

from __future__ import annotations

_INTEGER = 0x02
_OCTET_STRING = 0x04
_UTF8_STRING = 0x0C
_IA5_STRING = 0x16


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, value: bytes) -> bytes:
    """One DER tag-length-value element."""
    return bytes([tag]) + _length(len(value)) + value


def integer(value: int) -> bytes:
    """DER INTEGER of a non-negative value (minimal two's complement)."""
    if value < 0:
        raise ValueError("only non-negative integers are needed here")
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")
    return tlv(_INTEGER, body)


def ia5_string(value: str) -> bytes:
    """DER IA5String (ASCII)."""
    return tlv(_IA5_STRING, value.encode("ascii"))


def utf8_string(value: str) -> bytes:
    """DER UTF8String."""
    return tlv(_UTF8_STRING, value.encode("utf-8"))


def octet_string(value: bytes) -> bytes:
    """DER OCTET STRING."""
    return tlv(_OCTET_STRING, value)


__all__ = ["ia5_string", "integer", "octet_string", "tlv", "utf8_string"]
