"""The per-request response secret (`exported_secret`, `enc`): the "session recovery token"."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from privproxy.ehbp.framing import FrameDecryptor
from privproxy.ehbp.keys import derive_response_keys, parse_nonce_header
from privproxy.ehbp.protocol import EXPORT_LENGTH, MAX_RESPONSE_FRAME, X25519_KEY_LENGTH


@dataclass(frozen=True, slots=True)
class ResponseSecret:
    """What the client keeps after sealing a request, to open its response (docs/protocol.md §3.3).

    Secret material: never logged, redacted in `repr`.
    """

    exported_secret: bytes = field(repr=False)
    enc: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.exported_secret) != EXPORT_LENGTH or len(self.enc) != X25519_KEY_LENGTH:
            raise ValueError("exported secret and enc must be 32 bytes each")

    def __repr__(self) -> str:
        return "ResponseSecret(<redacted>)"

    def decryptor(
        self, nonce_header: str | None, *, max_frame: int = MAX_RESPONSE_FRAME
    ) -> FrameDecryptor:
        """Decryptor for a response carrying `Ehbp-Response-Nonce: nonce_header`, refusing
        frames longer than `max_frame` bytes.

        Raises `EhbpProtocolError` when the header is missing or not exactly 64 hex characters.
        """
        nonce = parse_nonce_header(nonce_header)
        keys = derive_response_keys(self.exported_secret, self.enc, nonce)
        return FrameDecryptor(keys, max_frame=max_frame)

    def to_json(self) -> dict[str, str]:
        """`{"exportedSecret": hex, "requestEnc": hex}` (the shape of the EHBP recovery token)."""
        return {"exportedSecret": self.exported_secret.hex(), "requestEnc": self.enc.hex()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str | bytes) -> ResponseSecret:
        """Inverse of `to_json()`; also accepts the JSON text. Raises `ValueError` on bad input."""
        obj: Any = json.loads(data) if isinstance(data, str | bytes) else data
        if not isinstance(obj, Mapping):
            raise ValueError("session recovery token must be a JSON object")
        secret, enc = obj.get("exportedSecret"), obj.get("requestEnc")
        if not isinstance(secret, str) or not isinstance(enc, str):
            raise ValueError("session recovery token needs string exportedSecret and requestEnc")
        if not (secret.isascii() and secret.isalnum() and enc.isascii() and enc.isalnum()):
            raise ValueError("session recovery token fields must be hex")
        return cls(exported_secret=bytes.fromhex(secret), enc=bytes.fromhex(enc))


__all__ = ["ResponseSecret"]
