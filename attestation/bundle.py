"""Parse the attestation bundle envelope (docs/protocol.md §2.1, docs/attestation.md V1).

``GET {api_base}/private/attestation`` returns one JSON object. :func:`parse_bundle` turns its
bytes into an :class:`AttestationBundle` through a strict pydantic model (unknown fields,
wrong types and bad encodings are rejected) and decodes the evidence: base64 + gzip with a
size cap (V1 gzip-bomb guard), DER VCEK, PEM enclave certificate text.

Does **not** verify anything: the evidence is returned exactly as received.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import zlib
from dataclasses import dataclass
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from attestation.errors import BundleError, Code
from attestation.models import SEV_SNP_GUEST_V2, TDX_GUEST_V2, Platform

MAX_BUNDLE_BYTES: Final = 1024 * 1024
"""Cap on the whole JSON bundle (the real one is ~26 KiB)."""
MAX_EVIDENCE_BYTES: Final = 10 * 1024 * 1024
"""Cap on the gunzipped evidence (reference value, V1)."""

FORMATS: Final[dict[str, Platform]] = {
    SEV_SNP_GUEST_V2: Platform.SEV_SNP,
    TDX_GUEST_V2: Platform.TDX,
}

_HOSTNAME = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"  # lowercase, no port


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Document(_Model):
    format: StrictStr
    body: Annotated[StrictStr, Field(min_length=1, max_length=MAX_BUNDLE_BYTES)]


class _Bundle(_Model):
    domain: Annotated[StrictStr, Field(max_length=253, pattern=_HOSTNAME)]
    enclaveAttestationReport: _Document  # noqa: N815 (wire name)
    digest: Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{64}$")]
    sigstoreBundle: dict[str, Any]  # noqa: N815 (wire name; parsed by the provenance step)
    vcek: StrictStr  # base64 DER; may be empty for TDX evidence
    enclaveCert: Annotated[StrictStr, Field(min_length=1)]  # noqa: N815 (wire name)
    releaseTag: StrictStr | None = None  # noqa: N815 (optional; PyPI tinfoil reads it)


@dataclass(frozen=True, slots=True)
class AttestationBundle:
    """A parsed, *unverified* bundle."""

    domain: str
    format: str
    platform: Platform
    body_b64: str  # exactly as received: the document hash is computed over it
    evidence: bytes  # gunzipped raw SEV-SNP report or TDX quote
    digest: str
    sigstore_bundle_json: bytes
    vcek_der: bytes
    enclave_cert_pem: str
    release_tag: str | None

    @property
    def document_hash(self) -> str:
        """Lowercase hex SHA-256 of ``format + body`` (V1); bound by the ``hatt`` SANs."""
        return hashlib.sha256((self.format + self.body_b64).encode()).hexdigest()


def b64decode_strict(text: str, what: str) -> bytes:
    """Standard base64 with padding and no stray characters, or BUNDLE_MALFORMED."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BundleError(Code.BUNDLE_MALFORMED, f"{what} is not valid base64") from exc


def gunzip_capped(data: bytes, *, limit: int = MAX_EVIDENCE_BYTES, what: str = "evidence") -> bytes:
    """Decompress a single gzip member, refusing more than ``limit`` output bytes."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise BundleError(Code.BUNDLE_MALFORMED, f"{what} is not valid gzip") from exc
    if len(out) > limit:
        raise BundleError(Code.BUNDLE_MALFORMED, f"{what} inflates beyond {limit} bytes")
    if not inflater.eof or inflater.unused_data:
        raise BundleError(
            Code.BUNDLE_MALFORMED, f"{what} gzip stream is truncated or has trailing data"
        )
    return out


def decode_document(body_b64: str, *, what: str = "attestation document") -> bytes:
    """base64 → gzip → raw evidence, with the size cap (V1)."""
    return gunzip_capped(b64decode_strict(body_b64, what), what=what)


def _vcek(text: str) -> bytes:
    # An SEV-SNP bundle without a VCEK is well-formed: the Attestor then fetches it from AMD.
    return b64decode_strict(text, "vcek") if text else b""


def parse_bundle(data: bytes) -> AttestationBundle:
    """Parse bundle bytes. Raises :class:`BundleError` (step ``parse``)."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise BundleError(Code.BUNDLE_MALFORMED, f"bundle is larger than {MAX_BUNDLE_BYTES} bytes")
    try:
        model = _Bundle.model_validate_json(data)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "<root>" for e in exc.errors())
        raise BundleError(Code.BUNDLE_MALFORMED, f"bundle JSON invalid at: {fields}") from exc
    doc = model.enclaveAttestationReport
    platform = FORMATS.get(doc.format)
    if platform is None:
        raise BundleError(Code.REPORT_FORMAT_UNSUPPORTED, f"unknown evidence format {doc.format!r}")
    return AttestationBundle(
        domain=model.domain,
        format=doc.format,
        platform=platform,
        body_b64=doc.body,
        evidence=decode_document(doc.body),
        digest=model.digest,
        sigstore_bundle_json=json.dumps(model.sigstoreBundle).encode(),
        vcek_der=_vcek(model.vcek),
        enclave_cert_pem=model.enclaveCert,
        release_tag=model.releaseTag,
    )


__all__ = [
    "FORMATS",
    "MAX_BUNDLE_BYTES",
    "MAX_EVIDENCE_BYTES",
    "AttestationBundle",
    "b64decode_strict",
    "decode_document",
    "gunzip_capped",
    "parse_bundle",
]
