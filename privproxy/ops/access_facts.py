"""What a handler learned about its request, for the access log line (metadata only).

The chat handler fills a `RequestFacts` on the request (`FACTS_KEY`); the access logger
(`privproxy.ops.log_hygiene.MetadataAccessLogger`) adds its fields to the line it writes
when the request ends. Only metadata: the resolved model id (validated shape), sizes and
timings; never content.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web


@dataclass(slots=True)
class RequestFacts:
    """Metadata of one chat request, filled in as it is handled."""

    model: str | None = None
    stream: bool | None = None
    request_bytes: int | None = None
    upstream_first_byte_ms: float | None = None
    # Only with tracing on (privproxy.ops.tracing): wall-clock start, the phases as
    # (name, start ns, end ns), token counts of a whole non-streamed answer.
    started_ns: int = 0
    phases: list[tuple[str, int, int]] | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None

    def fields(self) -> dict[str, Any]:
        """The known facts as log `extra=` fields (None values left out)."""
        out: dict[str, Any] = {}
        if self.model is not None:
            out["model"] = self.model
        if self.stream is not None:
            out["stream"] = self.stream
        if self.request_bytes is not None:
            out["request_bytes"] = self.request_bytes
        if self.upstream_first_byte_ms is not None:
            out["upstream_first_byte_ms"] = round(self.upstream_first_byte_ms, 1)
        return out


FACTS_KEY: Final = web.RequestKey("privproxy_request_facts", RequestFacts)

__all__ = ["FACTS_KEY", "RequestFacts"]
