"""This verifier's own name and version, as reported next to any second verifier's."""

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


__all__ = ["SDK_NAME", "sdk_label", "sdk_version"]
