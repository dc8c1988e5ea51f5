"""Parse a v3 attestation document: schema, encodings, sections. Nothing is trusted yet.

The two endorsed sections (``crypto_material``, ``device_evidence``) are kept as the exact
bytes their canonical base64 decodes to: those bytes are hashed and bound into REPORT_DATA,
and are never re-serialised. Absent members and ``null`` read as the member type's zero value
(the reference encoders' rule); the value checks then reject them. Any member outside the
schema rejects, and a body with the superseded June-2026 prototype's members is refused as an
unsupported format before anything else.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any, Final

from attestation.errors import BundleError, Code
from attestation.v3 import strictjson
from attestation.v3.constants import (
    CRYPTO_MATERIAL_V1,
    DEVICE_EVIDENCE_V1,
    DOCUMENT_FORMAT,
    KEY_TLS_SPKI_FP,
    KEY_X25519_HPKE,
    MAX_DOCUMENT_BYTES,
    REPORT_DATA_V1,
    ROLE_ENDORSEMENT,
    ROLE_REFERENCE_VALUES,
)

_TOP: Final = frozenset(
    {"format", "challenge", "cpu_evidence", "crypto_material", "device_evidence", "collateral"}
)
_CHALLENGE: Final = frozenset({"nonce", "report_data", "report_data_algorithm"})
_CPU: Final = frozenset({"format", "report_base64", "endorsed"})
_ENDORSED: Final = frozenset({"crypto_material_hash", "device_evidence_hash"})
_SECTION: Final = frozenset({"format", "items"})
_CRYPTO_ITEM: Final = frozenset({"id", "format", "data"})
_DEVICE_ITEM: Final = frozenset({"id", "kind", "vendor", "format", "evidence"})
_COLLATERAL: Final = frozenset({"id", "role", "format", "subjects", "data"})
# Members only the superseded prototype (same format URI, different body) carried.
_PROTOTYPE: Final = frozenset({"report_data", "cpu", "gpu", "certificate", "signature"})
_KEY_FORMATS: Final = frozenset({KEY_TLS_SPKI_FP, KEY_X25519_HPKE})
_EVEN_HEX: Final = re.compile(r"(?:[0-9a-f]{2})+")


@dataclass(frozen=True, slots=True)
class CryptoItem:
    """One ``crypto_material`` item; ``data`` is the decoded lowercase hex."""

    id: str
    format: str
    data: bytes


@dataclass(frozen=True, slots=True)
class DeviceItem:
    """One ``device_evidence`` item. Its evidence is bound by the section hash only."""

    id: str
    kind: str
    vendor: str
    format: str


@dataclass(frozen=True, slots=True)
class Collateral:
    """One collateral entry; ``data`` is the strictly parsed JSON object."""

    id: str
    role: str
    format: str
    subjects: tuple[str, ...]
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Document:
    """A schema-valid v3 document. Hashes and nonce are checked by ``binding.py``."""

    nonce_hex: str
    report_data: bytes
    cpu_format: str
    cpu_report: bytes
    crypto_material_hash: bytes
    device_evidence_hash: bytes
    crypto_material_bytes: bytes
    device_evidence_bytes: bytes
    crypto_items: tuple[CryptoItem, ...]
    device_items: tuple[DeviceItem, ...]
    collateral: tuple[Collateral, ...]

    def find(self, role: str, fmt: str, *, subject: str | None = None) -> Collateral | None:
        """The first entry with this role and format (and subject); never by position."""
        for entry in self.collateral:
            if entry.role == role and entry.format == fmt:
                if subject is None or subject in entry.subjects:
                    return entry
        return None


def _fail(code: Code, message: str) -> BundleError:
    return BundleError(code, message)


def _obj(value: object, what: str, allowed: frozenset[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(Code.V3_ENV_JSON_INVALID, f"{what} is not an object")
    unknown = set(value) - allowed
    if unknown:
        raise _fail(Code.V3_ENV_UNKNOWN_MEMBER, f"{what} has unknown members {sorted(unknown)}")
    return value


def _str(obj: dict[str, Any], key: str, what: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _fail(Code.V3_ENV_JSON_INVALID, f"{what}.{key} is not a string")
    return value


def _list(obj: dict[str, Any], key: str, what: str) -> list[Any] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise _fail(Code.V3_ENV_JSON_INVALID, f"{what}.{key} is not an array")
    return value


def lower_hex(text: str, size: int, what: str, code: Code = Code.V3_ENV_BAD_HEX) -> bytes:
    """Decode lowercase hex of exactly ``size`` bytes (uppercase and odd lengths reject)."""
    if len(text) != 2 * size or not _EVEN_HEX.fullmatch(text):
        raise _fail(code, f"{what} is not {size} bytes of lowercase hex")
    return bytes.fromhex(text)


def canonical_b64(text: str, what: str, code: Code = Code.V3_ENV_NONCANONICAL_BASE64) -> bytes:
    """Standard padded base64 that re-encodes to exactly ``text`` (no whitespace, no slack)."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise _fail(code, f"{what} is not standard base64") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise _fail(code, f"{what} is not canonical base64")
    return raw


def _section_items(raw: bytes, name: str, fmt: str) -> list[Any]:
    """The `items` of envelope section `name`, which must have format `fmt`."""
    section = _obj(strictjson.loads(raw, what=name), name, _SECTION)
    if _str(section, "format", name) != fmt:
        short = "/".join(fmt.split("/")[-2:])  # e.g. crypto-material/v1
        raise _fail(Code.V3_ENV_SECTION_FORMAT, f"{name} format is not {short}")
    items = _list(section, "items", name)
    if items is None:
        raise _fail(Code.V3_ENV_ITEMS_MISSING, f"{name}.items is missing")
    return items


def _crypto_items(raw: bytes) -> tuple[CryptoItem, ...]:
    items = _section_items(raw, "crypto_material", CRYPTO_MATERIAL_V1)
    out: list[CryptoItem] = []
    for i, value in enumerate(items):
        item = _obj(value, f"crypto_material.items[{i}]", _CRYPTO_ITEM)
        ident = _str(item, "id", "crypto item")
        fmt = _str(item, "format", "crypto item")
        data = _str(item, "data", "crypto item")
        if not ident or not fmt:
            raise _fail(Code.V3_ENV_ITEM_INCOMPLETE, f"crypto item {i} has an empty id or format")
        if fmt in _KEY_FORMATS:
            decoded = lower_hex(data, 32, f"crypto item {ident!r}", Code.V3_ENV_KEY_DATA)
        elif _EVEN_HEX.fullmatch(data):
            decoded = bytes.fromhex(data)
        else:
            raise _fail(Code.V3_ENV_KEY_DATA, f"crypto item {ident!r} data is not lowercase hex")
        out.append(CryptoItem(ident, fmt, decoded))
    _unique([c.id for c in out], "crypto_material")
    return tuple(out)


def _device_items(raw: bytes) -> tuple[DeviceItem, ...]:
    items = _section_items(raw, "device_evidence", DEVICE_EVIDENCE_V1)
    out: list[DeviceItem] = []
    for i, value in enumerate(items):
        item = _obj(value, f"device_evidence.items[{i}]", _DEVICE_ITEM)
        ident = _str(item, "id", "device item")
        if not ident:
            raise _fail(Code.V3_ENV_ITEM_INCOMPLETE, f"device item {i} has an empty id")
        out.append(
            DeviceItem(
                ident,
                _str(item, "kind", "device item"),
                _str(item, "vendor", "device item"),
                _str(item, "format", "device item"),
            )
        )
    _unique([d.id for d in out], "device_evidence")
    return tuple(out)


def _unique(ids: list[str], what: str) -> None:
    if len(set(ids)) != len(ids):
        raise _fail(Code.V3_ENV_DUPLICATE_ITEM_ID, f"{what} repeats an item id")


def _collateral(values: list[Any] | None) -> tuple[Collateral, ...]:
    out: list[Collateral] = []
    for i, value in enumerate(values or []):
        entry = _obj(value, f"collateral[{i}]", _COLLATERAL)
        ident = _str(entry, "id", "collateral")
        fmt = _str(entry, "format", "collateral")
        if not ident or not fmt:
            raise _fail(Code.V3_ENV_COLLATERAL_INCOMPLETE, f"collateral {i}: empty id or format")
        role = _str(entry, "role", "collateral")
        if role not in (ROLE_ENDORSEMENT, ROLE_REFERENCE_VALUES):
            raise _fail(Code.V3_ENV_COLLATERAL_ROLE, f"collateral {ident!r} has role {role!r}")
        subjects = _list(entry, "subjects", "collateral") or []
        if not all(isinstance(s, str) for s in subjects):
            raise _fail(Code.V3_ENV_JSON_INVALID, f"collateral {ident!r} subjects are not strings")
        data = entry.get("data")
        if not isinstance(data, dict):
            raise _fail(Code.V3_ENV_JSON_INVALID, f"collateral {ident!r} data is not an object")
        out.append(Collateral(ident, role, fmt, tuple(subjects), data))
    if len({c.id for c in out}) != len(out):
        raise _fail(Code.V3_ENV_DUPLICATE_COLLATERAL_ID, "collateral repeats an id")
    return tuple(out)


def parse_document(data: bytes) -> Document:
    """Strictly parse document bytes (the exact HTTP body). Raises :class:`BundleError`."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise _fail(Code.V3_FETCH_TOO_LARGE, f"document is larger than {MAX_DOCUMENT_BYTES} bytes")
    top_value = strictjson.loads(data, what="document")
    if (
        isinstance(top_value, dict)
        and _PROTOTYPE & top_value.keys()
        and "challenge" not in top_value
    ):
        raise _fail(
            Code.V3_ENV_UNSUPPORTED_FORMAT,
            "superseded prototype v3 body (report_data/cpu/certificate members); only the final"
            " format is supported",
        )
    top = _obj(top_value, "document", _TOP)
    if _str(top, "format", "document") != DOCUMENT_FORMAT:
        raise _fail(Code.V3_ENV_BAD_FORMAT, "format is not attestation/v3")
    challenge = _obj(top.get("challenge"), "challenge", _CHALLENGE)
    if _str(challenge, "report_data_algorithm", "challenge") != REPORT_DATA_V1:
        raise _fail(Code.V3_ENV_BAD_ALGORITHM, "report_data_algorithm is not report-data/v1")
    nonce_hex = _str(challenge, "nonce", "challenge")
    lower_hex(nonce_hex, 32, "challenge.nonce")
    report_data = lower_hex(_str(challenge, "report_data", "challenge"), 64, "report_data")
    cpu = _obj(top.get("cpu_evidence"), "cpu_evidence", _CPU)
    endorsed = _obj(cpu.get("endorsed"), "cpu_evidence.endorsed", _ENDORSED)
    cm_hash = lower_hex(_str(endorsed, "crypto_material_hash", "endorsed"), 32, "cm hash")
    de_hash = lower_hex(_str(endorsed, "device_evidence_hash", "endorsed"), 32, "de hash")
    cpu_format = _str(cpu, "format", "cpu_evidence")
    report_b64 = _str(cpu, "report_base64", "cpu_evidence")
    if not cpu_format or not report_b64:
        raise _fail(Code.V3_ENV_CPU_INCOMPLETE, "cpu_evidence format or report is empty")
    report = canonical_b64(report_b64, "cpu_evidence.report_base64")
    cm_b64 = _str(top, "crypto_material", "document")
    de_b64 = _str(top, "device_evidence", "document")
    if not cm_b64 or not de_b64:
        raise _fail(Code.V3_ENV_SECTION_MISSING, "crypto_material or device_evidence is empty")
    cm_bytes = canonical_b64(cm_b64, "crypto_material")
    de_bytes = canonical_b64(de_b64, "device_evidence")
    return Document(
        nonce_hex=nonce_hex,
        report_data=report_data,
        cpu_format=cpu_format,
        cpu_report=report,
        crypto_material_hash=cm_hash,
        device_evidence_hash=de_hash,
        crypto_material_bytes=cm_bytes,
        device_evidence_bytes=de_bytes,
        crypto_items=_crypto_items(cm_bytes),
        device_items=_device_items(de_bytes),
        collateral=_collateral(_list(top, "collateral", "document")),
    )


__all__ = [
    "Collateral",
    "CryptoItem",
    "DeviceItem",
    "Document",
    "canonical_b64",
    "lower_hex",
    "parse_document",
]
