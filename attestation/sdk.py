"""The verifiers in use, with their versions: ours, and the second TDX verifier (dcap-qvl)."""

from __future__ import annotations

import functools
from importlib import metadata
from typing import Final

SDK_NAME: Final = "privproxy-attestation"


@functools.cache
def sdk_version() -> str:
    """The installed project's version ("0.0.0+source" when run from a bare source tree)."""
    try:
        return metadata.version("privproxy")
    except metadata.PackageNotFoundError:
        return "0.0.0+source"


def sdk_label() -> str:
    """``"privproxy-attestation <version>"``."""
    return f"{SDK_NAME} {sdk_version()}"


DCAP_QVL: Final = "dcap-qvl"


@functools.cache
def dcap_qvl_version() -> str | None:
    """The installed ``dcap-qvl`` version, or None when it is missing (TDX then fails closed)."""
    try:
        return metadata.version(DCAP_QVL)
    except metadata.PackageNotFoundError:
        return None


def dcap_qvl_label() -> str:
    """``"dcap-qvl <version>"`` or ``"dcap-qvl (not installed)"``."""
    return f"{DCAP_QVL} {dcap_qvl_version() or '(not installed)'}"


def verifiers() -> list[dict[str, str | None]]:
    """Every hardware verifier the policy uses, for status pages and ``privproxy verify``."""
    return [
        {"name": SDK_NAME, "version": sdk_version(), "verifies": "SEV-SNP and TDX (all checks)"},
        {
            "name": DCAP_QVL,
            "version": dcap_qvl_version(),
            "verifies": "TDX quotes, independently (must accept with the same TCB status)",
        },
    ]


__all__ = [
    "DCAP_QVL",
    "SDK_NAME",
    "dcap_qvl_label",
    "dcap_qvl_version",
    "sdk_label",
    "sdk_version",
    "verifiers",
]
