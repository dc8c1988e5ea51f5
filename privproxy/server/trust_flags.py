"""Flags that widen or update the shipped trust, shared by `serve` and `privproxy verify`.

Kept apart from `config.py` so that `privproxy verify` parses them without importing the
server's settings model.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_trust_flags(parser: argparse.ArgumentParser) -> None:
    """Flags that widen or update the shipped trust (shared with `privproxy verify`)."""
    parser.add_argument(
        "--tdx-mr-seam-allow",
        action="append",
        metavar="HEX",
        help="also accept this TDX module MR_SEAM (96 hex digits; repeatable; logged at WARNING)",
    )
    parser.add_argument(
        "--sigstore-trust-root",
        type=Path,
        metavar="FILE",
        help="use this Sigstore trusted_root.json instead of the shipped one",
    )


def trust_values(args: argparse.Namespace) -> dict[str, Any]:
    """The Settings values of `add_trust_flags` (ValueError for a malformed MR_SEAM)."""
    values: dict[str, Any] = {}
    if args.tdx_mr_seam_allow:
        try:
            values["tdx_mr_seam_allow"] = tuple(
                bytes.fromhex(v.strip()) for v in args.tdx_mr_seam_allow
            )
        except ValueError as exc:
            raise ValueError("--tdx-mr-seam-allow must be hex") from exc
    if args.sigstore_trust_root is not None:
        values["sigstore_trust_root"] = args.sigstore_trust_root
    return values


__all__ = ["add_trust_flags", "trust_values"]
