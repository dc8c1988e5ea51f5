"""Router-side options: request fields that make the enclave's router act on the prompt.

The confidential model router accepts a few top-level request options that are not model
parameters: they make the router itself search the web, run code, scan for personal data
or pick the model from the prompt (docs/configuration.md says what each does and who sees
what). A client library may add them by default; a privacy user must opt in knowingly. So
a request carrying one is refused (400, naming the option and the flag that allows it)
unless `--allow-router-option NAME` allowed it.

`check_router_options` is a pure function over the parsed JSON object, called by the shared
intake (`privproxy.server.receive`) on every chat body, and usable by any other code that
builds chat bodies in-process before sealing them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, ClassVar, Final

from privproxy.errors import ProxyError

ROUTER_OPTIONS: Final = frozenset(
    {"web_search_options", "code_execution_options", "pii_check_options", "auto_model_options"}
)
"""Every router-side option the proxy knows; each is refused unless allowed."""


class RouterOptionRefusedError(ProxyError):
    """The request carries a router-side option that was not allowed."""

    http_status: ClassVar[int] = 400
    error_type: ClassVar[str] = "invalid_request_error"
    code: ClassVar[str] = "router_option_not_allowed"


def check_router_options(body: Mapping[str, Any], allowed: Collection[str]) -> None:
    """Raise `RouterOptionRefusedError` when `body` has a router option not in `allowed`.

    Only the option's presence counts (any value, `null` included: the router's behaviour
    for odd values is not ours to guess). The first refused option in a fixed order is named.
    """
    if ROUTER_OPTIONS.isdisjoint(body):  # the common case, ~0.2 us for a small body
        return
    for name in sorted(ROUTER_OPTIONS.intersection(body)):
        if name not in allowed:
            raise RouterOptionRefusedError(
                f"'{name}' makes the enclave's router act on your prompt and is refused by "
                f"this proxy; start it with --allow-router-option {name} to allow it"
            )


__all__ = ["ROUTER_OPTIONS", "RouterOptionRefusedError", "check_router_options"]
