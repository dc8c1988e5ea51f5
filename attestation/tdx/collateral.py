"""Intel PCS collateral documents: parsing and the exact signed byte spans (docs/attestation.md
V3.3 steps 1, 3).

Intel signs the inner ``tcbInfo`` / ``enclaveIdentity`` JSON value *as served*. We locate that
value's byte span in the raw text with a small tokenizer over the top-level object (each value
delimited by `json.JSONDecoder.raw_decode`) and never re-serialize (docs/attestation.md V3.3
step 3). The parsed models are for evaluation only; signatures are always checked over
`signed_bytes`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from attestation.errors import Code, HardwareError

MAX_COLLATERAL_JSON = 1 << 20  # real TCB Info is ~5 KiB; bound parsing of hostile input
_DECODER = json.JSONDecoder()
_JSON_WS = " \t\n\r"


@dataclass(frozen=True, slots=True)
class SignedDocument:
    """An outer ``{<key>: {...}, "signature": "<hex r‖s>"}`` response, split."""

    signed_bytes: bytes  # exact UTF-8 bytes of the inner value
    body: dict[str, Any]
    signature: bytes  # 64 bytes r ‖ s


def _malformed(what: str, why: str) -> HardwareError:
    return HardwareError(Code.BUNDLE_MALFORMED, f"{what} is malformed: {why}")


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _JSON_WS:
        pos += 1
    return pos


def top_level_spans(text: str) -> dict[str, tuple[int, int]]:
    """Character spans of each value of a top-level JSON object; duplicate keys rejected."""
    pos = _skip_ws(text, 0)
    if text[pos : pos + 1] != "{":
        raise ValueError("not a JSON object")
    pos = _skip_ws(text, pos + 1)
    spans: dict[str, tuple[int, int]] = {}
    if text[pos : pos + 1] == "}":
        pos += 1
    else:
        while True:
            if text[pos : pos + 1] != '"':
                raise ValueError("expected a member name")
            key, pos = _DECODER.raw_decode(text, pos)
            pos = _skip_ws(text, pos)
            if text[pos : pos + 1] != ":":
                raise ValueError("expected ':'")
            start = _skip_ws(text, pos + 1)
            _, pos = _DECODER.raw_decode(text, start)
            if key in spans:
                raise ValueError(f"duplicate member {key!r}")
            spans[key] = (start, pos)
            pos = _skip_ws(text, pos)
            sep = text[pos : pos + 1]
            pos += 1
            if sep == "}":
                break
            if sep != ",":
                raise ValueError("expected ',' or '}'")
            pos = _skip_ws(text, pos)
    if text[pos:].strip(_JSON_WS):
        raise ValueError("trailing data after the object")
    return spans


def split_signed(text: str, key: str, what: str) -> SignedDocument:
    """Split a PCS response into the exact signed inner bytes, its parsed body and signature."""
    if len(text) > MAX_COLLATERAL_JSON:
        raise _malformed(what, f"{len(text)} characters exceed the limit")
    try:
        spans = top_level_spans(text)
    except ValueError as exc:
        raise _malformed(what, str(exc)) from exc
    if set(spans) != {key, "signature"}:
        raise _malformed(what, f"members {sorted(spans)} != [{key!r}, 'signature']")
    start, end = spans[key]
    body = json.loads(text[start:end])
    sig_hex = json.loads(text[slice(*spans["signature"])])
    if not isinstance(body, dict):
        raise _malformed(what, f"{key} is not an object")
    try:
        signature = bytes.fromhex(sig_hex) if isinstance(sig_hex, str) else b""
    except ValueError:
        signature = b""
    if len(signature) != 64:
        raise _malformed(what, "signature is not 64 hex-encoded bytes")
    return SignedDocument(text[start:end].encode(), body, signature)


# --- typed accessors: every field is checked, nothing is trusted by shape ----------------------


def _get(obj: dict[str, Any], key: str, kind: type, what: str) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _malformed(what, f"{key!r} missing or not {kind.__name__}")
    return value


def _hex(obj: dict[str, Any], key: str, size: int, what: str) -> bytes:
    try:
        value = bytes.fromhex(_get(obj, key, str, what))
    except ValueError as exc:
        raise _malformed(what, f"{key!r} is not hex") from exc
    if len(value) != size:
        raise _malformed(what, f"{key!r} is {len(value)} bytes, expected {size}")
    return value


def _time(obj: dict[str, Any], key: str, what: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(_get(obj, key, str, what))
    except ValueError as exc:
        raise _malformed(what, f"{key!r} is not an ISO 8601 time") from exc
    if value.tzinfo is None:
        raise _malformed(what, f"{key!r} has no time zone")
    return value


def _svns(components: Any, what: str) -> tuple[int, ...]:
    if not isinstance(components, list) or len(components) != 16:
        raise _malformed(what, "TCB components are not a list of 16")
    return tuple(_get(c, "svn", int, what) if isinstance(c, dict) else -1 for c in components)


@dataclass(frozen=True, slots=True)
class TcbLevel:
    """One platform TCB level of a TDX TCB Info."""

    sgx_components: tuple[int, ...]
    pce_svn: int
    tdx_components: tuple[int, ...]
    status: str


@dataclass(frozen=True, slots=True)
class IsvLevel:
    """A QE or TDX-module TCB level: status for ISVSVN ≥ ``isv_svn``."""

    isv_svn: int
    status: str


@dataclass(frozen=True, slots=True)
class ModuleIdentity:
    """A TDX module identity (``tdxModuleIdentities[]``, or ``tdxModule`` with no levels)."""

    id: str
    mr_signer: bytes
    attributes: bytes
    attributes_mask: bytes
    levels: tuple[IsvLevel, ...]


@dataclass(frozen=True, slots=True)
class TcbInfo:
    """TDX TCB Info v3 (id "TDX")."""

    doc: SignedDocument
    issue_date: dt.datetime
    next_update: dt.datetime
    fmspc: bytes
    pce_id: bytes
    evaluation_data_number: int
    module: ModuleIdentity
    module_identities: tuple[ModuleIdentity, ...]
    levels: tuple[TcbLevel, ...]


@dataclass(frozen=True, slots=True)
class QeIdentity:
    """TD_QE enclave identity v2.

    Only the envelope (id, version, dates, evaluation number) is decoded at parse time: those
    are needed to pick and date the document before its signature can be checked. The identity
    fields below are decoded on access, which happens only in TCB evaluation, after
    `verify_collateral` has verified the signature over the raw span: unauthenticated identity
    fields are never interpreted, and a malformed one is reported only once it is authentic.
    """

    doc: SignedDocument
    issue_date: dt.datetime
    next_update: dt.datetime
    evaluation_data_number: int

    @property
    def misc_select(self) -> bytes:
        """MISCSELECT the QE must have (under `misc_select_mask`)."""
        return _hex(self.doc.body, "miscselect", 4, _QE)

    @property
    def misc_select_mask(self) -> bytes:
        """Mask applied to MISCSELECT before comparing."""
        return _hex(self.doc.body, "miscselectMask", 4, _QE)

    @property
    def attributes(self) -> bytes:
        """ATTRIBUTES the QE must have (under `attributes_mask`)."""
        return _hex(self.doc.body, "attributes", 16, _QE)

    @property
    def attributes_mask(self) -> bytes:
        """Mask applied to ATTRIBUTES before comparing."""
        return _hex(self.doc.body, "attributesMask", 16, _QE)

    @property
    def mr_signer(self) -> bytes:
        """MRSIGNER of Intel's QE signing key."""
        return _hex(self.doc.body, "mrsigner", 32, _QE)

    @property
    def isv_prod_id(self) -> int:
        """ISVPRODID the QE report must carry."""
        value: int = _get(self.doc.body, "isvprodid", int, _QE)
        return value

    @property
    def levels(self) -> tuple[IsvLevel, ...]:
        """QE TCB levels, newest first."""
        return _isv_levels(self.doc.body.get("tcbLevels"), _QE)


_QE = "QE Identity"


def _isv_levels(raw: Any, what: str) -> tuple[IsvLevel, ...]:
    if not isinstance(raw, list):
        raise _malformed(what, "tcbLevels is not a list")
    out = []
    for level in raw:
        if not isinstance(level, dict):
            raise _malformed(what, "tcb level is not an object")
        tcb = _get(level, "tcb", dict, what)
        out.append(IsvLevel(_get(tcb, "isvsvn", int, what), _get(level, "tcbStatus", str, what)))
    return tuple(out)


def _module(raw: dict[str, Any], what: str, *, with_levels: bool) -> ModuleIdentity:
    return ModuleIdentity(
        id=_get(raw, "id", str, what) if with_levels else "",
        mr_signer=_hex(raw, "mrsigner", 48, what),
        attributes=_hex(raw, "attributes", 8, what),
        attributes_mask=_hex(raw, "attributesMask", 8, what),
        levels=_isv_levels(raw.get("tcbLevels"), what) if with_levels else (),
    )


def parse_tcb_info(text: str) -> TcbInfo:
    """Parse a TDX TCB Info response; require id "TDX" and version 3 (V3.3 step 1)."""
    what = "TCB Info"
    doc = split_signed(text, "tcbInfo", what)
    b = doc.body
    if b.get("id") != "TDX" or b.get("version") != 3:
        raise _malformed(what, f"id/version {b.get('id')!r}/{b.get('version')!r} != 'TDX'/3")
    levels = []
    for level in _get(b, "tcbLevels", list, what):
        tcb = _get(level, "tcb", dict, what) if isinstance(level, dict) else {}
        levels.append(
            TcbLevel(
                sgx_components=_svns(tcb.get("sgxtcbcomponents"), what),
                pce_svn=_get(tcb, "pcesvn", int, what),
                tdx_components=_svns(tcb.get("tdxtcbcomponents"), what),
                status=_get(level, "tcbStatus", str, what),
            )
        )
    identities = b.get("tdxModuleIdentities", [])
    if not isinstance(identities, list):
        raise _malformed(what, "tdxModuleIdentities is not a list")
    return TcbInfo(
        doc=doc,
        issue_date=_time(b, "issueDate", what),
        next_update=_time(b, "nextUpdate", what),
        fmspc=_hex(b, "fmspc", 6, what),
        pce_id=_hex(b, "pceId", 2, what),
        evaluation_data_number=_get(b, "tcbEvaluationDataNumber", int, what),
        module=_module(_get(b, "tdxModule", dict, what), what, with_levels=False),
        module_identities=tuple(
            _module(m if isinstance(m, dict) else {}, what, with_levels=True) for m in identities
        ),
        levels=tuple(levels),
    )


def parse_qe_identity(text: str) -> QeIdentity:
    """Parse a QE Identity response; require id "TD_QE" and version 2 (V3.3 step 1)."""
    what = "QE Identity"
    doc = split_signed(text, "enclaveIdentity", what)
    b = doc.body
    if b.get("id") != "TD_QE":
        raise HardwareError(
            Code.QE_IDENTITY_ID_INVALID, f"QE Identity id {b.get('id')!r} != 'TD_QE'"
        )
    if b.get("version") != 2:
        raise HardwareError(
            Code.QE_IDENTITY_VERSION_INVALID, f"QE Identity version {b.get('version')!r} != 2"
        )
    return QeIdentity(
        doc=doc,
        issue_date=_time(b, "issueDate", what),
        next_update=_time(b, "nextUpdate", what),
        evaluation_data_number=_get(b, "tcbEvaluationDataNumber", int, what),
    )


__all__ = [
    "IsvLevel",
    "ModuleIdentity",
    "QeIdentity",
    "SignedDocument",
    "TcbInfo",
    "TcbLevel",
    "parse_qe_identity",
    "parse_tcb_info",
    "split_signed",
    "top_level_spans",
]
