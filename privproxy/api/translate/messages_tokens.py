"""A local input-token estimate for `count_tokens` (pure, no I/O).

No tokenizer of the private models ships with the proxy, and asking the enclave would cost a
paid request, so the count is an estimate: about four characters per token over the text the
model will read (messages, system prompt, tool names, descriptions and schemas), a few tokens
of framing per message, and a flat amount per image. The answer says it is an estimate.
"""

from __future__ import annotations

import json
from typing import Any, Final

CHARS_PER_TOKEN: Final = 4
PER_MESSAGE: Final = 4
PER_IMAGE: Final = 1600
METHOD: Final = "estimate: ~4 characters per token"


def _content_chars(content: Any) -> tuple[int, int]:
    """(characters, images) of a chat message `content`."""
    if isinstance(content, str):
        return len(content), 0
    chars = images = 0
    for part in content if isinstance(content, list) else []:
        if part.get("type") == "image_url":
            images += 1
        else:
            chars += len(part.get("text") or "")
    return chars, images


def estimate_input_tokens(chat_body: dict[str, Any]) -> int:
    """Estimated prompt tokens of a translated chat body (at least 1)."""
    chars = images = 0
    messages = chat_body.get("messages") or []
    for message in messages:
        c, i = _content_chars(message.get("content"))
        chars, images = chars + c, images + i
        for call in message.get("tool_calls") or []:
            function = call["function"]
            chars += len(function["name"]) + len(function["arguments"])
    tools = chat_body.get("tools")
    if tools:
        chars += len(json.dumps(tools, separators=(",", ":"), ensure_ascii=False))
    tokens = -(-chars // CHARS_PER_TOKEN) + PER_MESSAGE * len(messages) + PER_IMAGE * images
    return max(tokens, 1)


__all__ = ["CHARS_PER_TOKEN", "METHOD", "estimate_input_tokens"]
