"""Local-endpoint guards: Host allowlist, Origin/CORS, content types, local token.

Placeholder: the security work (issue 6) fills this in; `app.py` installs
`build_middlewares(settings)` in front of every handler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp.typedefs import Middleware

if TYPE_CHECKING:
    from privproxy.config import Settings


def build_middlewares(settings: Settings) -> list[Middleware]:
    """Middlewares guarding the local endpoint, outermost first (none yet)."""
    del settings
    return []
