"""Trust material shipped with the package, so verification needs no network and no setup.

Every file here is public and each is checked when loaded; none is trusted by its mere
presence:

* ``{Milan,Genoa,Turin}_cert_chain.pem``: AMD's ASK + ARK per product, byte for byte as AMD's
  key distribution service serves ``/vcek/v1/{product}/cert_chain``. Loading checks each
  certificate against the SHA-256 pins in :mod:`attestation.sev.roots`, so a changed file
  fails closed (``AMD_ROOT_UNPINNED``).
* ``tdx_policy.json``: Tinfoil's production TDX policy as published on 2026-12-03 (accepted
  and retired TDX module MR_SEAMs, minimum TCB evaluation data number, TEE_TCB_SVN,
  TD_ATTRIBUTES, XFAM). Its ``_about`` member and each entry's ``in`` list name the published
  verifier source every value was taken from. Parsed strictly by
  :mod:`attestation.tdx.policy_data`.
* ``sigstore_trusted_root.json``: the Sigstore public-good ``trusted_root.json`` (TUF target
  of the production repository) as distributed with ``sigstore`` 4.5.1. Loaded through
  ``sigstore``'s public API by :mod:`attestation.provenance.trust`; an operator replaces it
  with ``--sigstore-trust-root FILE`` without a release.
"""

from __future__ import annotations

from importlib import resources
from typing import Final

#: Upper bound for any shipped trust file (the largest, the Sigstore root, is ~7 KiB).
MAX_TRUST_FILE_BYTES: Final = 1 << 20


def read(name: str) -> bytes:
    """The bytes of one shipped trust file (``FileNotFoundError`` if the install lacks it)."""
    data = (resources.files(__name__) / name).read_bytes()
    if len(data) > MAX_TRUST_FILE_BYTES:
        raise ValueError(f"shipped trust file {name} exceeds {MAX_TRUST_FILE_BYTES} bytes")
    return data


__all__ = ["MAX_TRUST_FILE_BYTES", "read"]
