"""Anthropic Messages request → OpenAI chat-completions body (pure, no I/O).

Only what the chat path can honour is copied over; everything else the client sent
(`metadata`, `cache_control`, `context_management`, `defer_loading`, betas...) is accepted
and left behind, so nothing unexpected travels to the enclave. Thinking blocks a client
echoes back are accepted with their signature and dropped: the chat path has no slot for
them and the model does not need its earlier reasoning to continue.

A system prompt (string or text blocks) becomes the first `system` message; `role: "system"`
entries inside `messages` stay system messages where they stand. A user turn's
`tool_result` blocks become `tool` messages (chat wants them right after the assistant's
calls), followed by one user message with the turn's remaining text and images.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from privproxy.api.translate.errors import TranslationError

# Anthropic tool types that are client tools with a schema; any other `type` names a
# built-in tool (web search, code execution, computer use...) the chat path cannot run.
_CUSTOM_TOOL_TYPES: Final = frozenset({None, "custom"})
# Thinking budgets (tokens) → chat `reasoning_effort`, for models that take it.
_EFFORT_BY_BUDGET: Final = ((4096, "low"), (16384, "medium"))
_EFFORTS: Final = frozenset({"low", "medium", "high"})


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """The chat body to seal, and what the answer translation needs to know."""

    body: dict[str, Any] = field(repr=False)
    model: str  # as the client named it (echoed in the answer)
    stream: bool
    stop_sequences: tuple[str, ...]
    dropped_tools: tuple[str, ...]  # built-in tools the chat path cannot run


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TranslationError(where, "must be an object")
    return value


# Error locations are built only when raising (a big request has thousands of blocks).
def _message_at(i: int) -> str:
    return f"messages[{i}]"


def _block_at(i: int, j: int) -> str:
    return f"messages[{i}].content[{j}]"


def _text_of(block: dict[str, Any], where: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise TranslationError(f"{where}.text", "must be a string")
    return text


def _system_text(value: Any) -> str:
    """`system` (or a system message's content) as one string."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise TranslationError("system", "must be a string or a list of text blocks")
    parts = []
    for i, block in enumerate(value):
        text = block.get("text") if type(block) is dict and block.get("type") == "text" else None
        if not isinstance(text, str):
            where = f"system[{i}]"
            block = _obj(block, where)
            if block.get("type") != "text":
                raise TranslationError(where, "must be a text block")
            text = _text_of(block, where)
        parts.append(text)
    return "\n\n".join(parts)


def _image_part(block: dict[str, Any], where: str) -> dict[str, Any]:
    source = _obj(block.get("source"), f"{where}.source")
    kind = source.get("type")
    if kind == "base64":
        media, data = source.get("media_type"), source.get("data")
        if (
            not isinstance(media, str)
            or not media.startswith("image/")
            or not isinstance(data, str)
        ):
            raise TranslationError(where, "needs an image 'media_type' and base64 'data'")
        url = f"data:{media};base64,{data}"
    elif kind == "url":
        link = source.get("url")
        if not isinstance(link, str) or not link.startswith(("https://", "http://", "data:")):
            raise TranslationError(where, "must be an http(s) URL")
        url = link
    else:
        raise TranslationError(where, "must be 'base64' or 'url'")
    return {"type": "image_url", "image_url": {"url": url}}


def _tool_result_text(block: dict[str, Any], where: str) -> str:
    content = block.get("content")
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    elif isinstance(content, list):
        parts = []
        for i, inner in enumerate(content):
            inner_where = f"{where}.content[{i}]"
            inner = _obj(inner, inner_where)
            if inner.get("type") == "text":
                parts.append(_text_of(inner, inner_where))
            elif inner.get("type") == "image":
                # Chat `tool` messages carry text only; say so rather than drop it silently.
                parts.append("[image omitted: the tool result had an image]")
            else:
                raise TranslationError(inner_where, "must be 'text' or 'image'")
        text = "\n".join(parts)
    else:
        raise TranslationError(where, "must be a string or blocks")
    return f"Error: {text}" if block.get("is_error") is True else text


def _block_text(block: dict[str, Any], i: int, j: int) -> str:
    """`_text_of` text block `j` of message `i`, its location written only for the error."""
    text = block.get("text")
    return text if isinstance(text, str) else _text_of(block, _block_at(i, j))


def _user_messages(content: Any, i: int) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    if not isinstance(content, list):
        raise TranslationError(_message_at(i), "must be a string or blocks")
    tools: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    texts: list[str] | None = []  # while every part is text
    for j, block in enumerate(content):
        if not isinstance(block, dict):
            raise TranslationError(_block_at(i, j), "must be an object")
        kind = block.get("type")
        if kind == "text":
            text = _block_text(block, i, j)
            parts.append({"type": "text", "text": text})
            if texts is not None:
                texts.append(text)
        elif kind == "image":
            parts.append(_image_part(block, _block_at(i, j)))
            texts = None
        elif kind == "tool_result":
            call_id = block.get("tool_use_id")
            if not isinstance(call_id, str) or not call_id:
                raise TranslationError(_block_at(i, j), "must be a string")
            text = _tool_result_text(block, _block_at(i, j))
            tools.append({"role": "tool", "tool_call_id": call_id, "content": text})
        elif kind in ("thinking", "redacted_thinking"):
            continue
        else:
            raise TranslationError(
                f"{_block_at(i, j)}.type", f"{kind!r} is not supported in a user turn"
            )
    out = tools
    if parts:
        joined = "\n".join(texts) if texts is not None else None
        out.append({"role": "user", "content": joined if joined is not None else parts})
    return out


def _assistant_message(content: Any, i: int) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    if not isinstance(content, list):
        raise TranslationError(_message_at(i), "must be a string or blocks")
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        if not isinstance(block, dict):
            raise TranslationError(_block_at(i, j), "must be an object")
        kind = block.get("type")
        if kind == "text":
            texts.append(_block_text(block, i, j))
        elif kind == "tool_use":
            call_id, name = block.get("id"), block.get("name")
            if not isinstance(call_id, str) or not isinstance(name, str):
                raise TranslationError(_block_at(i, j), "needs string 'id' and 'name'")
            arguments = json.dumps(_obj(block.get("input", {}), f"{_block_at(i, j)}.input"))
            calls.append(
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
            )
        elif kind in ("thinking", "redacted_thinking"):
            continue  # accepted with its signature, not forwarded (module docstring)
        else:
            raise TranslationError(
                f"{_block_at(i, j)}.type", f"{kind!r} is not supported in an assistant turn"
            )
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    elif message["content"] is None:
        message["content"] = ""
    return message


def _messages(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise TranslationError("messages", "must be a non-empty list")
    out: list[dict[str, Any]] = []
    for i, message in enumerate(value):
        if not isinstance(message, dict):
            raise TranslationError(_message_at(i), "must be an object")
        role = message.get("role")
        content = message.get("content")
        if role == "user":
            out.extend(_user_messages(content, i))
        elif role == "assistant":
            out.append(_assistant_message(content, i))
        elif role == "system":
            out.append({"role": "system", "content": _system_text(content)})
        else:
            raise TranslationError(
                f"{_message_at(i)}.role", "must be 'user', 'assistant' or 'system'"
            )
    return out


def _tools(value: Any) -> tuple[list[dict[str, Any]], list[str]]:
    if value is None:
        return [], []
    if not isinstance(value, list):
        raise TranslationError("tools", "must be a list")
    tools: list[dict[str, Any]] = []
    dropped: list[str] = []
    for i, tool in enumerate(value):
        if not isinstance(tool, dict):
            raise TranslationError(f"tools[{i}]", "must be an object")
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise TranslationError(f"tools[{i}].name", "must be a string")
        if tool.get("type") not in _CUSTOM_TOOL_TYPES:
            dropped.append(name)
            continue
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            raise TranslationError(f"tools[{i}].input_schema", "must be an object")
        function: dict[str, Any] = {"name": name, "parameters": schema}
        description = tool.get("description")
        if isinstance(description, str):
            function["description"] = description
        tools.append({"type": "function", "function": function})
    return tools, dropped


def _tool_choice(value: Any, body: dict[str, Any]) -> None:
    if value is None:
        return
    choice = _obj(value, "tool_choice")
    kind = choice.get("type")
    if kind == "auto":
        body["tool_choice"] = "auto"
    elif kind == "any":
        body["tool_choice"] = "required"
    elif kind == "none":
        body["tool_choice"] = "none"
    elif kind == "tool":
        name = choice.get("name")
        if not isinstance(name, str):
            raise TranslationError("tool_choice.name", "must be a string")
        body["tool_choice"] = {"type": "function", "function": {"name": name}}
    else:
        raise TranslationError("tool_choice.type", "must be 'auto', 'any', 'tool' or 'none'")
    if choice.get("disable_parallel_tool_use") is True and kind != "none":
        body["parallel_tool_calls"] = False


def _effort(request: Mapping[str, Any]) -> str | None:
    """The reasoning effort the client asked for, if any: an explicit effort setting wins,
    else a thinking budget is bucketed; adaptive thinking leaves the model's default."""
    output_config = request.get("output_config")
    if isinstance(output_config, dict) and output_config.get("effort") in _EFFORTS:
        effort: str = output_config["effort"]
        return effort
    thinking = request.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if isinstance(budget, int) and not isinstance(budget, bool):
            return next((e for limit, e in _EFFORT_BY_BUDGET if budget < limit), "high")
    return None


def _number(request: Mapping[str, Any], name: str, body: dict[str, Any]) -> None:
    value = request.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TranslationError(name, "must be a number")
    body[name] = value


def to_chat(request: Any, *, reasoning: bool) -> ChatRequest:
    """Translate a decoded Messages request. `reasoning`: the model takes
    `reasoning_effort` (else thinking settings are ignored). Raises `TranslationError`."""
    request = _obj(request, "body")
    model = request.get("model")
    if not isinstance(model, str) or not model:
        raise TranslationError("model", "must be a non-empty string")
    messages = _messages(request.get("messages"))
    system = request.get("system")
    if system is not None and system != "" and system != []:
        messages.insert(0, {"role": "system", "content": _system_text(system)})
    body: dict[str, Any] = {"model": model, "messages": messages}
    max_tokens = request.get("max_tokens")
    if max_tokens is not None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise TranslationError("max_tokens", "must be a positive integer")
        body["max_tokens"] = max_tokens
    for name in ("temperature", "top_p", "top_k"):
        _number(request, name, body)
    stops = request.get("stop_sequences")
    if stops is not None and (
        not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops)
    ):
        raise TranslationError("stop_sequences", "must be a list of strings")
    if stops:
        body["stop"] = list(stops)
    tools, dropped = _tools(request.get("tools"))
    if tools:
        body["tools"] = tools
        _tool_choice(request.get("tool_choice"), body)
    effort = _effort(request) if reasoning else None
    if effort is not None:
        body["reasoning_effort"] = effort
    stream = request.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise TranslationError("stream", "must be a boolean")
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return ChatRequest(body, model, stream is True, tuple(stops or ()), tuple(dropped))


__all__ = ["ChatRequest", "to_chat"]
