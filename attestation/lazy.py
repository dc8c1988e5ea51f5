"""Module attributes loaded on first use (PEP 562), for package ``__init__`` modules.

A package lists ``{name: defining module}`` and delegates its ``__getattr__`` here, so that
importing the package (e.g. for `attestation.models`) does not import what only some callers
need (pydantic, cryptography, aiohttp, the TDX verifier).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any


def lazy_attribute(package: str, table: Mapping[str, str], name: str) -> Any:
    """``name`` from the module ``table`` assigns it to; AttributeError for any other name."""
    module = table.get(name)
    if module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = ["lazy_attribute"]
