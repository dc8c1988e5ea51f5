"""Sigstore trust roots (docs/attestation.md V4.2 step 1, docs/attestation.md "Roots and policy").

A :class:`SigstoreTrust` holds one parsed ``trusted_root.json`` twice over: as our own typed
view (:class:`TrustMaterial`, used by the explicit pre-checks that pick rejection codes) and
as a lazily built ``sigstore`` ``Verifier`` that is created once and reused.

``production()`` uses the public-good ``trusted_root.json`` shipped with this package
(:mod:`attestation.trustdata`); ``from_file`` takes an operator's updated one
(``--sigstore-trust-root``). Both are offline. The ``sigstore`` verifier is built through the
library's public API only (``ClientTrustConfig.from_json`` → ``trusted_root`` →
``Verifier``). We do not call ``Verifier.production(offline=True)``: its TUF updater writes a
cache under the user's home directory even offline and then trusts whatever it finds there.
``sigstore`` itself is imported lazily because it is slow to import.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import load_der_public_key

from attestation import trustdata
from attestation.errors import Code, TrustError

if TYPE_CHECKING:
    from sigstore.verify import Verifier

#: The shipped public-good root, a file of :mod:`attestation.trustdata`.
SHIPPED_TRUST_ROOT = "sigstore_trusted_root.json"
_CLIENT_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
_SIGNING_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.signingconfig.v0.2+json"
_MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
#: Hard cap on a trust root document; the real one is ~7 KiB.
MAX_TRUST_ROOT_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class LogKey:
    """A transparency-log (Rekor or CT) public key with its log id and validity window."""

    log_id: bytes
    key: PublicKeyTypes
    valid_from: dt.datetime | None
    valid_until: dt.datetime | None
    base_url: str


@dataclass(frozen=True, slots=True)
class CertificateAuthority:
    """A Fulcio CA: its chain (leaf-most first, root last) and validity window."""

    chain: tuple[x509.Certificate, ...]
    valid_from: dt.datetime | None
    valid_until: dt.datetime | None


@dataclass(frozen=True, slots=True)
class TrustMaterial:
    """Our own typed view of a trusted root, for explicit checks."""

    certificate_authorities: tuple[CertificateAuthority, ...]
    tlogs: tuple[LogKey, ...]
    ctlogs: tuple[LogKey, ...]
    timestamp_authorities: int

    def rekor_key(self, log_id: bytes) -> LogKey | None:
        """The Rekor key whose log id is ``log_id``, if trusted."""
        return next((k for k in self.tlogs if k.log_id == log_id), None)

    def ct_key(self, log_id: bytes) -> LogKey | None:
        """The CT log key whose log id is ``log_id``, if trusted."""
        return next((k for k in self.ctlogs if k.log_id == log_id), None)


def _invalid(message: str) -> TrustError:
    return TrustError(Code.TRUST_ROOT_INVALID, message)


def _time(value: object) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid("timestamp is not a string")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _invalid(f"bad timestamp {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise _invalid(f"{what} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _invalid(f"{what} is not valid base64") from exc


def _obj(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(f"{what} is not an object")
    return value


def _list(value: object, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _invalid(f"{what} is not a list")
    return value


def _window(obj: dict[str, Any]) -> tuple[dt.datetime | None, dt.datetime | None]:
    valid_for = obj.get("validFor")
    if valid_for is None:
        return None, None
    window = _obj(valid_for, "validFor")
    return _time(window.get("start")), _time(window.get("end"))


def _log_key(raw: object, what: str) -> LogKey:
    entry = _obj(raw, what)
    pub = _obj(entry.get("publicKey"), f"{what}.publicKey")
    try:
        key = load_der_public_key(_b64(pub.get("rawBytes"), f"{what} key"))
    except ValueError as exc:
        raise _invalid(f"{what} key does not parse") from exc
    log_id = _b64(_obj(entry.get("logId"), f"{what}.logId").get("keyId"), f"{what} log id")
    start, end = _window(pub)
    base_url = entry.get("baseUrl", "")
    return LogKey(log_id, key, start, end, base_url if isinstance(base_url, str) else "")


def _ca(raw: object) -> CertificateAuthority:
    entry = _obj(raw, "certificateAuthority")
    chain_obj = _obj(entry.get("certChain"), "certChain")
    certs = []
    for item in _list(chain_obj.get("certificates"), "certChain.certificates"):
        der = _b64(_obj(item, "certificate").get("rawBytes"), "CA certificate")
        try:
            certs.append(x509.load_der_x509_certificate(der))
        except ValueError as exc:
            raise _invalid("CA certificate does not parse") from exc
    start, end = _window(entry)
    return CertificateAuthority(tuple(certs), start, end)


def parse_trust_material(data: bytes) -> TrustMaterial:
    """Parse a ``trusted_root.json`` into :class:`TrustMaterial` (TRUST_ROOT_INVALID on error).

    Empty component lists are *not* an error here: which code an absent Fulcio CA, Rekor
    key or CT key produces depends on the bundle check that needs it (V4.2 step 1).
    """
    if len(data) > MAX_TRUST_ROOT_BYTES:
        raise _invalid("trusted root too large")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _invalid("trusted root is not JSON") from exc
    root = _obj(doc, "trusted root")
    if root.get("mediaType") != _MEDIA_TYPE:
        raise _invalid(f"unsupported trusted root media type {root.get('mediaType')!r}")
    return TrustMaterial(
        certificate_authorities=tuple(
            _ca(c) for c in _list(root.get("certificateAuthorities"), "certificateAuthorities")
        ),
        tlogs=tuple(_log_key(t, "tlog") for t in _list(root.get("tlogs"), "tlogs")),
        ctlogs=tuple(_log_key(t, "ctlog") for t in _list(root.get("ctlogs"), "ctlogs")),
        timestamp_authorities=len(_list(root.get("timestampAuthorities"), "timestampAuthorities")),
    )


@dataclass(eq=False)
class SigstoreTrust:
    """A Sigstore trusted root plus the ``sigstore`` verifier built from it (once)."""

    raw: bytes
    material: TrustMaterial
    _verifier: Verifier | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @classmethod
    def from_trusted_root_json(cls, data: bytes) -> SigstoreTrust:
        """Trust exactly the given ``trusted_root.json`` bytes."""
        return cls(raw=bytes(data), material=parse_trust_material(data))

    @classmethod
    def production(cls) -> SigstoreTrust:
        """The public-good Sigstore root shipped with this package.

        Offline and read-only: no TUF refresh, nothing written anywhere.
        """
        try:
            data = trustdata.read(SHIPPED_TRUST_ROOT)
        except (OSError, ValueError) as exc:
            raise TrustError(
                Code.TRUST_ROOT_INVALID, f"the installed package lacks {SHIPPED_TRUST_ROOT}"
            ) from exc
        return cls.from_trusted_root_json(data)

    @classmethod
    def from_file(cls, path: Path) -> SigstoreTrust:
        """An operator-supplied ``trusted_root.json`` (bounded read; TRUST_ROOT_INVALID)."""
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_TRUST_ROOT_BYTES + 1)
        except OSError as exc:
            raise TrustError(Code.TRUST_ROOT_INVALID, f"cannot read {path}: {exc}") from exc
        return cls.from_trusted_root_json(data)

    def verifier(self) -> Verifier:
        """The ``sigstore`` ``Verifier`` for this root, built on first use and then reused.

        Raises the library's own exceptions when the root lacks what the library needs
        (e.g. no transparency logs); callers run explicit checks first so that such a root
        is rejected with the right code before this is reached.
        """
        with self._lock:
            if self._verifier is None:
                from sigstore.models import ClientTrustConfig
                from sigstore.verify import Verifier

                # The public API loads a root from bytes only inside a client trust config;
                # the signing half is never used by a verifier, so it stays empty.
                config = ClientTrustConfig.from_json(
                    json.dumps(
                        {
                            "mediaType": _CLIENT_CONFIG_MEDIA_TYPE,
                            "trustedRoot": json.loads(self.raw),
                            "signingConfig": {"mediaType": _SIGNING_CONFIG_MEDIA_TYPE},
                        }
                    )
                )
                self._verifier = Verifier(trusted_root=config.trusted_root)
            return self._verifier


__all__ = [
    "MAX_TRUST_ROOT_BYTES",
    "CertificateAuthority",
    "LogKey",
    "SigstoreTrust",
    "TrustMaterial",
    "parse_trust_material",
]
