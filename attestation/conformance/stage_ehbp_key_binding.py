"""Conformance stage ``verify-ehbp-key-binding`` (docs/attestation.md V6).

An HPKE key offered by a server is accepted only if it equals REPORT_DATA[32:64]. The key is
first validated by the HPKE parser the EHBP transport uses; malformed input (REPORT_DATA not
64 bytes, key not a 32-byte X25519 key) exits 30, a key swap is EHBP_KEY_BINDING_MISMATCH.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from attestation.conformance.base import MalformedInput, RejectionContract
from attestation.keys import check_offered_hpke_key

STAGE: Final = "verify-ehbp-key-binding"

REJECTION: Final = RejectionContract(codes=frozenset({"EHBP_KEY_BINDING_MISMATCH"}))

CAPABILITIES: Final[dict[str, object]] = {
    "ehbp": {"key_binding_supported": True},
    "transport_modes_supported": ["ehbp"],
}

_Hex = Annotated[StrictStr, Field(pattern=r"^[0-9a-fA-F]*$")]


class KeyBindingInput(BaseModel):
    """verify-ehbp-key-binding.input.schema.json."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    schema_version: Literal["1"]
    report_data_hex: _Hex
    offered_hpke_public_key_hex: _Hex


def run(data: dict[str, Any]) -> dict[str, object]:
    """Check the binding; return the attested keys or raise."""
    try:
        inp = KeyBindingInput.model_validate(data)
        report_data = bytes.fromhex(inp.report_data_hex)
        offered = bytes.fromhex(inp.offered_hpke_public_key_hex)
    except (ValidationError, ValueError) as exc:
        raise MalformedInput(f"input does not match the key-binding schema: {exc}") from exc
    try:
        keys = check_offered_hpke_key(report_data, offered)
    except (
        ValueError
    ) as exc:  # malformed sizes or an unparsable key; a mismatch raises KeyBindingError
        raise MalformedInput(str(exc)) from exc
    return {
        "attested_hpke_public_key_hex": keys.hpke_public_key.hex(),
        "tls_fingerprint_hex": keys.tls_key_fingerprint.hex(),
    }


__all__ = ["CAPABILITIES", "STAGE", "KeyBindingInput", "run"]
