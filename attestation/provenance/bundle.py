"""Structural parse of a Sigstore bundle (docs/attestation.md V4.1, V4.2, the explicit pre-checks).

Everything here is parsing: it turns untrusted JSON into typed values and rejects what is not
a v0.3 DSSE bundle of the shape Tinfoil produces, with BUNDLE_MALFORMED (or
TLOG_COUNT_OUT_OF_RANGE for the entry count). Nothing is verified here.

Key sets are closed (unknown keys, duplicate keys and the legacy ``x509CertificateChain``
layout are rejected) so the JSON we check is exactly the JSON the ``sigstore`` library later
verifies: no parser differential between the two.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Final

from cryptography import x509

from attestation.errors import Code, ProvenanceError

MAX_BUNDLE_BYTES: Final = 1 << 20  # the real bundle is ~12 KiB
MAX_TLOG_ENTRIES: Final = 8  # each entry costs a full verification; bound the work
MEDIA_TYPES_V03: Final = frozenset(
    {
        "application/vnd.dev.sigstore.bundle.v0.3+json",
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
    }
)

_BUNDLE_KEYS: Final = frozenset({"mediaType", "verificationMaterial", "dsseEnvelope"})
_MATERIAL_KEYS: Final = frozenset({"certificate", "tlogEntries", "timestampVerificationData"})
_ENTRY_KEYS: Final = frozenset(
    {
        "logIndex",
        "logId",
        "kindVersion",
        "integratedTime",
        "inclusionPromise",
        "inclusionProof",
        "canonicalizedBody",
    }
)
_PROOF_KEYS: Final = frozenset({"logIndex", "rootHash", "treeSize", "hashes", "checkpoint"})
_ENVELOPE_KEYS: Final = frozenset({"payload", "payloadType", "signatures"})


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """RFC 6962 audit path plus the signed checkpoint text."""

    log_index: int
    root_hash: bytes
    tree_size: int
    hashes: tuple[bytes, ...]
    checkpoint: str


@dataclass(frozen=True, slots=True)
class TlogEntry:
    """One Rekor transparency-log entry as carried in the bundle."""

    log_index: int
    log_id: bytes
    kind: str
    version: str
    integrated_time: int | None
    signed_entry_timestamp: bytes | None
    inclusion_proof: InclusionProof
    body: bytes
    raw: dict[str, Any]

    @property
    def observed_time(self) -> int | None:
        """Integrated time usable as a signing time: only when bound by an inclusion promise."""
        if self.integrated_time and self.signed_entry_timestamp is not None:
            return self.integrated_time
        return None


@dataclass(frozen=True, slots=True)
class DsseEnvelope:
    """The DSSE envelope: payload type, raw payload bytes and its single signature."""

    payload_type: str
    payload: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class ParsedBundle:
    """A structurally valid v0.3 DSSE bundle. ``raw`` is the exact parsed JSON."""

    raw: dict[str, Any]
    leaf: x509.Certificate
    envelope: DsseEnvelope
    tlog_entries: tuple[TlogEntry, ...]
    rfc3161_timestamp_count: int


def _malformed(message: str) -> ProvenanceError:
    return ProvenanceError(Code.BUNDLE_MALFORMED, message)


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _malformed(f"duplicate JSON key {key!r}")
        out[key] = value
    return out


def _obj(value: object, what: str, allowed: frozenset[str] | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _malformed(f"{what} is missing or not an object")
    if allowed is not None:
        unknown = set(value) - allowed
        if unknown:
            raise _malformed(f"{what} has unexpected fields {sorted(unknown)}")
    return value


def _str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise _malformed(f"{what} is missing or not a string")
    return value


def _b64(value: object, what: str) -> bytes:
    try:
        return base64.b64decode(_str(value, what), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _malformed(f"{what} is not valid base64") from exc


def _int(value: object, what: str) -> int:
    # protobuf JSON carries int64 as a decimal string; accept plain integers too.
    if isinstance(value, bool):
        raise _malformed(f"{what} is not an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        number = int(value)
    else:
        raise _malformed(f"{what} is not an integer")
    if number < 0 or number >= 1 << 63:
        raise _malformed(f"{what} is out of range")
    return number


def _proof(value: object) -> InclusionProof:
    proof = _obj(value, "inclusionProof", _PROOF_KEYS)
    hashes = proof.get("hashes", [])
    if not isinstance(hashes, list) or len(hashes) > 64:
        raise _malformed("inclusionProof.hashes is not a list of at most 64 hashes")
    checkpoint = _obj(proof.get("checkpoint"), "inclusionProof.checkpoint", frozenset({"envelope"}))
    return InclusionProof(
        log_index=_int(proof.get("logIndex"), "inclusionProof.logIndex"),
        root_hash=_b64(proof.get("rootHash"), "inclusionProof.rootHash"),
        tree_size=_int(proof.get("treeSize"), "inclusionProof.treeSize"),
        hashes=tuple(_b64(h, "inclusionProof.hashes[]") for h in hashes),
        checkpoint=_str(checkpoint.get("envelope"), "checkpoint.envelope"),
    )


def _entry(value: object) -> TlogEntry:
    entry = _obj(value, "tlogEntries[]", _ENTRY_KEYS)
    kind_version = _obj(entry.get("kindVersion"), "kindVersion", frozenset({"kind", "version"}))
    log_id = _obj(entry.get("logId"), "logId", frozenset({"keyId"}))
    promise = entry.get("inclusionPromise")
    set_sig = None
    if promise is not None:
        promise_obj = _obj(promise, "inclusionPromise", frozenset({"signedEntryTimestamp"}))
        set_sig = _b64(promise_obj.get("signedEntryTimestamp"), "signedEntryTimestamp")
    integrated = entry.get("integratedTime")
    if "inclusionProof" not in entry:
        raise _malformed("v0.3 bundles require an inclusion proof")
    return TlogEntry(
        log_index=_int(entry.get("logIndex"), "logIndex"),
        log_id=_b64(log_id.get("keyId"), "logId.keyId"),
        kind=_str(kind_version.get("kind"), "kindVersion.kind"),
        version=_str(kind_version.get("version"), "kindVersion.version"),
        integrated_time=None if integrated is None else _int(integrated, "integratedTime"),
        signed_entry_timestamp=set_sig,
        inclusion_proof=_proof(entry["inclusionProof"]),
        body=_b64(entry.get("canonicalizedBody"), "canonicalizedBody"),
        raw=entry,
    )


def _envelope(value: object) -> DsseEnvelope:
    env = _obj(value, "dsseEnvelope", _ENVELOPE_KEYS)
    signatures = env.get("signatures")
    if not isinstance(signatures, list) or len(signatures) != 1:
        # DSSE allows several; Tinfoil signs once and sigstore-python verifies exactly one.
        raise _malformed("dsseEnvelope must carry exactly one signature")
    sig = _obj(signatures[0], "signatures[0]", frozenset({"sig", "keyid"}))
    return DsseEnvelope(
        payload_type=_str(env.get("payloadType"), "payloadType"),
        payload=_b64(env.get("payload"), "payload"),
        signature=_b64(sig.get("sig"), "signatures[0].sig"),
    )


def _leaf(material: dict[str, Any]) -> x509.Certificate:
    if "x509CertificateChain" in material:
        raise _malformed("legacy x509CertificateChain layout is not accepted (v0.3 only)")
    if "publicKey" in material:
        raise _malformed("public-key bundles are not accepted (Fulcio certificate required)")
    cert = _obj(material.get("certificate"), "certificate", frozenset({"rawBytes"}))
    der = _b64(cert.get("rawBytes"), "certificate.rawBytes")
    try:
        leaf = x509.load_der_x509_certificate(der)
        _ = leaf.extensions  # force extension parsing now: a bad extension is malformed input
    except ValueError as exc:
        raise _malformed("signing certificate does not parse") from exc
    return leaf


def _timestamp_count(material: dict[str, Any]) -> int:
    tvd = material.get("timestampVerificationData")
    if tvd is None:
        return 0
    data = _obj(tvd, "timestampVerificationData", frozenset({"rfc3161Timestamps"}))
    stamps = data.get("rfc3161Timestamps", [])
    if not isinstance(stamps, list):
        raise _malformed("rfc3161Timestamps is not a list")
    return len(stamps)


def check_tlog_count(count: int, tlog_entries_min: int, tlog_entries_max: int | None) -> None:
    """TLOG_COUNT_OUT_OF_RANGE unless ``count`` is within the bounds (capped by the maximum)."""
    upper = (
        MAX_TLOG_ENTRIES if tlog_entries_max is None else min(tlog_entries_max, MAX_TLOG_ENTRIES)
    )
    if count < tlog_entries_min or count > upper:
        raise ProvenanceError(
            Code.TLOG_COUNT_OUT_OF_RANGE,
            f"{count} transparency-log entries, need {tlog_entries_min}..{upper}",
        )


def parse_bundle(
    data: bytes, *, tlog_entries_min: int = 1, tlog_entries_max: int | None = None
) -> ParsedBundle:
    """Parse bundle JSON bytes; raise BUNDLE_MALFORMED / TLOG_COUNT_OUT_OF_RANGE."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise _malformed("bundle too large")
    try:
        doc = json.loads(data, object_pairs_hook=_reject_duplicates)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise _malformed("bundle is not JSON") from exc
    bundle = _obj(doc, "bundle", _BUNDLE_KEYS)
    if bundle.get("mediaType") not in MEDIA_TYPES_V03:
        raise _malformed(f"unsupported bundle media type {bundle.get('mediaType')!r}")
    material = _obj(bundle.get("verificationMaterial"), "verificationMaterial")
    leaf = _leaf(material)
    unknown = set(material) - _MATERIAL_KEYS
    if unknown:
        raise _malformed(f"verificationMaterial has unexpected fields {sorted(unknown)}")
    if "dsseEnvelope" not in bundle:
        raise _malformed("bundle has no dsseEnvelope (message-signature bundles not accepted)")
    envelope = _envelope(bundle["dsseEnvelope"])
    entries_raw = material.get("tlogEntries", [])
    if not isinstance(entries_raw, list):
        raise _malformed("tlogEntries is not a list")
    check_tlog_count(len(entries_raw), tlog_entries_min, tlog_entries_max)
    return ParsedBundle(
        raw=bundle,
        leaf=leaf,
        envelope=envelope,
        tlog_entries=tuple(_entry(e) for e in entries_raw),
        rfc3161_timestamp_count=_timestamp_count(material),
    )


__all__ = [
    "MAX_BUNDLE_BYTES",
    "MAX_TLOG_ENTRIES",
    "DsseEnvelope",
    "InclusionProof",
    "ParsedBundle",
    "TlogEntry",
    "check_tlog_count",
    "parse_bundle",
]
