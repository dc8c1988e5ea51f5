"""Verification and operations endpoints (/v1/verification, /readyz, /healthz, /metrics, HTML status).

Placeholder: the lifecycle work (issue 5) fills this in; `app.py` calls `add_routes`.
"""

from __future__ import annotations

from aiohttp import web


def add_routes(app: web.Application) -> None:
    """Register the status routes on `app` (none yet)."""
