"""The start-up lines that tell a person how to call the proxy (`serve` and `demo`).

The example must work as printed: a wildcard bind address (`0.0.0.0`, `::`) is not something a
client can connect to by name and the Host guard does not accept it, so the example uses the
matching loopback address (which `docker run -p` also forwards to). When the local token is
required the example carries it, by reference only: the token's value is never logged. It is
passed with curl's `--oauth2-bearer "..."` (which sends `Authorization: Bearer ...`) so that the
log redaction, which blanks whatever follows a literal `Bearer `, leaves the example readable.
"""

from __future__ import annotations

import ipaddress
import shlex
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from privproxy.server.config import Settings

EXAMPLE_BODY = '{"model":"private/kimi-k3","messages":[{"role":"user","content":"Hello"}]}'


def client_url(host: str, port: int) -> str:
    """Base URL a local client should use for a proxy bound to `host:port`."""
    name = host.strip("[]")
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return f"http://{name}:{port}"
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    text = str(address)
    return f"http://[{text}]:{port}" if address.version == 6 else f"http://{text}:{port}"


def token_reference(settings: Settings) -> str | None:
    """Shell text that expands to the local token, or None when no token is required."""
    from privproxy.server.token import token_path, token_required

    if not token_required(settings):
        return None
    if settings.token is not None:
        return "$PRIVPROXY_TOKEN"
    return f"$(cat {shlex.quote(str(token_path(settings.state_dir)))})"


def curl_example(url: str, token_ref: str | None) -> str:
    """A copy-and-paste curl for one chat completion (three or four lines)."""
    lines = [f"  curl {url}/v1/chat/completions \\", "    -H 'Content-Type: application/json' \\"]
    if token_ref is not None:
        lines.append(f'    --oauth2-bearer "{token_ref}" \\')
    lines.append(f"    -d '{EXAMPLE_BODY}'")
    return "\n".join(lines)


__all__ = ["EXAMPLE_BODY", "client_url", "curl_example", "token_reference"]
