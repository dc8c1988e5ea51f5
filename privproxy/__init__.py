"""privproxy: a local OpenAI-compatible proxy for PayPerQ private/* models.

It verifies the Tinfoil enclave's attestation, seals every request body with EHBP
in-process and relays the decrypted (streamed) answer to the local client::

    import asyncio
    from privproxy import Settings, running

    async def main() -> None:
        async with running(Settings(port=0)) as server:
            print(server.url)

    asyncio.run(main())

The package is grouped by role: `api/` (client APIs), `server/` (app, guards, intake, relay),
`gateway/` (the one network hop), `enclave/` (attestation lifecycle), `ehbp/` (sealing),
`ops/` (metrics, status, logging), `cli/` and `simulator/`. The public names below are
loaded on first use, so `import privproxy` stays cheap for the command line.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "create_app": "privproxy.server.app",
    "running": "privproxy.server.runner",
    "RunningServer": "privproxy.server.runner",
    "Settings": "privproxy.server.config",
}

if TYPE_CHECKING:
    from privproxy.server.app import create_app
    from privproxy.server.config import Settings
    from privproxy.server.runner import RunningServer, running

__all__ = ["RunningServer", "Settings", "__version__", "create_app", "running"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'privproxy' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
