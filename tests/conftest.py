"""Shared test configuration: where the read-only `../shared` material lives."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


def shared_path(*parts: str) -> Path:
    """Path under ../shared, skipping the calling test when that material is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        where = "/".join(parts)
        pytest.skip(f"../shared/{where} not present (shared material sits beside the clone)")
    return path
