"""Raw bytes of vendor-specific X.509 extensions (AMD KDS, Intel SGX, Fulcio).

`cryptography` exposes extensions it does not know as `UnrecognizedExtension`; their DER value
is decoded by hand in each caller, which maps a failure to its own rejection code.
"""

from __future__ import annotations

from cryptography import x509


class UndecodableExtensionError(ValueError):
    """An extension is present but its value cannot be read or decoded."""


def raw_extension(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> bytes | None:
    """The extension's raw value, `None` when absent.

    Raises `UndecodableExtensionError` when `cryptography` parsed it as a known extension type:
    the vendor OIDs we read must never be something else.
    """
    try:
        ext = cert.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return None
    value = ext.value
    if not isinstance(value, x509.UnrecognizedExtension):
        raise UndecodableExtensionError(f"extension {oid.dotted_string} has an unexpected type")
    return value.value


__all__ = ["UndecodableExtensionError", "raw_extension"]
