"""Responses API request → chat-completions body (pure).

What maps where (docs/clients.md has the user-facing list):

* `instructions` → a leading `system` message; `developer` and `system` input messages →
  `system` messages (the private models' chat templates know `system`; not all know
  `developer`).
* `input`: a string is one user message; items are `message` (text and image parts),
  `function_call` (→ an assistant `tool_calls` entry; consecutive calls share one assistant
  message), `function_call_output` (→ a `tool` message), `reasoning` (accepted and skipped:
  its `encrypted_content` is another service's state and is never forwarded).
* `tools`: `function` tools; `namespace` tools flattened to one chat function per inner
  function; hosted tools (`web_search`, `file_search`, ...) and `custom` tools cannot run on
  the sealed chat path: they are dropped and named in `ChatRequest.dropped_tools`.
* `tool_choice`, `parallel_tool_calls`, `max_output_tokens` (→ `max_tokens`), `temperature`,
  `top_p`, `text.format` (→ `response_format`), `reasoning.effort` (→ `reasoning_effort`, only
  for models that take it). `metadata`, `user`, `store` are answered locally, not forwarded.

Anything malformed raises `TranslationError` naming the field; unknown top-level fields are
ignored (clients send many harmless ones: `include`, `prompt_cache_key`, `client_metadata`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from privproxy.api.translate.errors import TranslationError

HOSTED_TOOL_TYPES: Final = frozenset(
    {
        "web_search",
        "web_search_preview",
        "web_search_2025_08_26",
        "web_search_preview_2025_03_11",
        "file_search",
        "code_interpreter",
        "computer_use_preview",
        "computer_use",
        "image_generation",
        "mcp",
        "local_shell",
        "shell",
        "apply_patch",
        "tool_search",
        "custom",
    }
)
"""Tool types the sealed chat path cannot run: dropped (and named), never forwarded."""

REASONING_EFFORT_MODELS: Final = ("gpt-oss",)
"""Bare model id prefixes that take `reasoning_effort` (low/medium/high)."""

_EFFORT: Final = {
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
}
_ROLES: Final = {
    "user": "user",
    "assistant": "assistant",
    "system": "system",
    "developer": "system",
}
_TOOL_CHOICES: Final = frozenset({"auto", "none", "required"})
# Fields that need state privproxy does not keep, or features it does not offer.
_REFUSED: Final = {
    "conversation": "conversations are not kept by privproxy",
    "prompt": "stored prompt templates are not available through privproxy",
    "background": "background responses are not available through privproxy",
}


@dataclass(frozen=True, slots=True)
class FunctionName:
    """How a chat function name maps back to a Responses function (namespace flattening)."""

    name: str
    namespace: str | None = None


@dataclass(slots=True)
class ChatRequest:
    """The translated request: the chat body to seal and what the answer must echo."""

    chat: dict[str, Any]
    stream: bool
    messages: list[dict[str, Any]]  # the chat messages without the `instructions` message
    dropped_tools: list[str] = field(default_factory=list)
    functions: dict[str, FunctionName] = field(default_factory=dict)  # chat name → origin
    echo: dict[str, Any] = field(default_factory=dict)  # request fields the response repeats


def _fail(param: str, message: str) -> TranslationError:
    return TranslationError(param, message)


def _str(value: Any, param: str | _Where, rest: str = "", *, optional: bool = False) -> str | None:
    """`value` when it is a string (or None and `optional`); `param` (with `rest`) names it."""
    if isinstance(value, str) or (value is None and optional):
        return value
    raise _fail(param if isinstance(param, str) else param(rest), "must be a string")


def _number(value: Any, param: str, low: float, high: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _fail(param, f"must be a number from {low:g} to {high:g}")
    return value


_TEXT_PARTS: Final = frozenset(
    {"input_text", "output_text", "text", "summary_text", "reasoning_text"}
)


def _content_parts(content: Any, where: _Where, role: str) -> str | list[dict[str, Any]]:
    """Message content → chat content: a string when it is text only, else chat parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _fail(where(".content"), "must be a string or an array of content parts")
    texts: list[str] = []
    parts: list[dict[str, Any]] = []
    for i, part in enumerate(content):
        if not isinstance(part, dict):
            raise _fail(where(f".content[{i}]"), "must be an object")
        kind = part.get("type")
        if kind == "refusal" or (isinstance(kind, str) and kind in _TEXT_PARTS):
            key = "refusal" if kind == "refusal" else "text"  # where the part holds its text
            text = part.get(key)
            if not isinstance(text, str):
                raise _fail(where(f".content[{i}].{key}"), "must be a string")
            texts.append(text)
            parts.append({"type": "text", "text": text})
        elif kind == "input_image":
            if role != "user":
                raise _fail(where(f".content[{i}]"), "images are accepted in user messages only")
            url = part.get("image_url")
            if not isinstance(url, str) or not url:
                raise _fail(
                    where(f".content[{i}].image_url"),
                    "must be a URL or data URL (file ids need storage)",
                )
            image: dict[str, Any] = {"url": url}
            detail = part.get("detail")
            if detail in ("low", "high", "auto"):
                image["detail"] = detail
            parts.append({"type": "image_url", "image_url": image})
        else:
            raise _fail(
                where(f".content[{i}].type"), f"content part type {kind!r} is not supported"
            )
    if len(texts) == len(parts):
        return "\n\n".join(texts)
    return parts


def _output_text(output: Any, where: _Where) -> str:
    """A `function_call_output.output`: a string, or parts whose text is joined."""
    if isinstance(output, str):
        return output
    if not isinstance(output, list):
        raise _fail(where(".output"), "must be a string or an array of content parts")
    texts = []
    for i, part in enumerate(output):
        if not isinstance(part, dict):
            raise _fail(where(f".output[{i}]"), "must be an object")
        if isinstance(part.get("text"), str):
            texts.append(part["text"])
        else:  # images/files in tool output cannot go into a chat `tool` message
            texts.append(f"[{part.get('type', 'part')} omitted]")
    return "\n".join(texts)


class _Where:
    """An error location, spelled only when an error is raised: `where(".x")` is
    `param[i].x` (a big request has thousands of items and parts)."""

    __slots__ = ("i", "param")

    def __init__(self, param: str, i: int) -> None:
        self.param, self.i = param, i

    def __call__(self, rest: str = "") -> str:
        return f"{self.param}[{self.i}]{rest}"


class _Messages:
    """Builds the chat message list, merging consecutive function calls."""

    def __init__(self, functions: dict[str, FunctionName]) -> None:
        self.out: list[dict[str, Any]] = []
        self._by_origin = {(f.namespace, f.name): chat for chat, f in functions.items()}

    def chat_name(self, name: str, namespace: str | None) -> str:
        return self._by_origin.get((namespace, name)) or _flat(namespace, name)

    def add_message(self, item: dict[str, Any], where: _Where) -> None:
        role = item.get("role")
        if not isinstance(role, str) or role not in _ROLES:
            raise _fail(where(".role"), "must be one of user, assistant, system, developer")
        content = _content_parts(item.get("content"), where, role)
        self.out.append({"role": _ROLES[role], "content": content})

    def add_call(self, item: dict[str, Any], where: _Where) -> None:
        call_id = _str(item.get("call_id"), where, ".call_id")
        name = _str(item.get("name"), where, ".name")
        arguments = _str(item.get("arguments"), where, ".arguments")
        namespace = _str(item.get("namespace"), where, ".namespace", optional=True)
        assert name is not None
        call = {
            "id": call_id,
            "type": "function",
            "function": {"name": self.chat_name(name, namespace), "arguments": arguments},
        }
        last = self.out[-1] if self.out else None
        if last is not None and last["role"] == "assistant":  # same turn: one message
            last.setdefault("tool_calls", []).append(call)
        else:
            self.out.append({"role": "assistant", "content": None, "tool_calls": [call]})

    def add_output(self, item: dict[str, Any], where: _Where) -> None:
        call_id = _str(item.get("call_id"), where, ".call_id")
        text = _output_text(item.get("output"), where)
        self.out.append({"role": "tool", "tool_call_id": call_id, "content": text})


def _flat(namespace: str | None, name: str) -> str:
    if not namespace or name.startswith(namespace):
        return name
    return f"{namespace}__{name}"


def items_to_messages(
    items: list[Any], functions: dict[str, FunctionName], *, param: str = "input"
) -> list[dict[str, Any]]:
    """Responses items (input items, or a response's `output`) → chat messages."""
    messages = _Messages(functions)
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise _fail(f"{param}[{i}]", "must be an object")
        kind = item.get("type", "message")
        if kind == "message":
            messages.add_message(item, _Where(param, i))
        elif kind == "function_call":
            messages.add_call(item, _Where(param, i))
        elif kind == "function_call_output":
            messages.add_output(item, _Where(param, i))
        elif kind == "reasoning":
            continue  # another service's reasoning state: never forwarded
        elif kind == "item_reference":
            raise _fail(f"{param}[{i}].type", "item references need stored items (not kept)")
        else:
            raise _fail(f"{param}[{i}].type", f"input item type {kind!r} is not supported")
    return messages.out


def _input_messages(value: Any, functions: dict[str, FunctionName]) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list):
        raise _fail("input", "must be a string or an array of input items")
    return items_to_messages(value, functions)


def _function_tool(tool: dict[str, Any], where: _Where, namespace: str | None) -> dict[str, Any]:
    name = tool.get("name")
    if not isinstance(name, str):
        raise _fail(where(".name"), "must be a string")
    fn: dict[str, Any] = {"name": _flat(namespace, name) if namespace else name}
    description = tool.get("description")
    if isinstance(description, str):
        fn["description"] = description
    parameters = tool.get("parameters")
    if parameters is not None:
        if not isinstance(parameters, dict):
            raise _fail(where(".parameters"), "must be a JSON schema object")
        fn["parameters"] = parameters
    else:
        fn["parameters"] = {"type": "object", "properties": {}}
    strict = tool.get("strict")
    if strict is True or strict is False:
        fn["strict"] = strict
    return {"type": "function", "function": fn}


class _SubWhere(_Where):
    """`tools[i].tools[j]`, spelled only when an error is raised."""

    __slots__ = ("j",)

    def __init__(self, i: int, j: int) -> None:
        super().__init__("tools", i)
        self.j = j

    def __call__(self, rest: str = "") -> str:
        return f"tools[{self.i}].tools[{self.j}]{rest}"


def _tools(value: Any) -> tuple[list[dict[str, Any]], dict[str, FunctionName], list[str]]:
    if value is None:
        return [], {}, []
    if not isinstance(value, list):
        raise _fail("tools", "must be an array")
    out: list[dict[str, Any]] = []
    functions: dict[str, FunctionName] = {}
    dropped: list[str] = []

    def add(tool: dict[str, Any], where: _Where, namespace: str | None) -> None:
        chat = _function_tool(tool, where, namespace)
        chat_name = chat["function"]["name"]
        if chat_name in functions:
            raise _fail(where(".name"), f"duplicate function name {chat_name!r}")
        functions[chat_name] = FunctionName(tool["name"], namespace)
        out.append(chat)

    for i, tool in enumerate(value):
        if not isinstance(tool, dict):
            raise _fail(f"tools[{i}]", "must be an object")
        kind = tool.get("type")
        if kind == "function":
            add(tool, _Where("tools", i), None)
        elif kind == "namespace":
            namespace = _str(tool.get("name"), f"tools[{i}].name")
            inner = tool.get("tools")
            if not isinstance(inner, list):
                raise _fail(f"tools[{i}].tools", "must be an array")
            for j, sub in enumerate(inner):
                if not isinstance(sub, dict):
                    raise _fail(f"tools[{i}].tools[{j}]", "must be an object")
                if sub.get("type") == "function":
                    add(sub, _SubWhere(i, j), namespace)
                else:
                    dropped.append(f"{namespace}.{sub.get('type')}")
        elif isinstance(kind, str) and kind in HOSTED_TOOL_TYPES:
            dropped.append(kind)
        else:
            raise _fail(f"tools[{i}].type", f"tool type {kind!r} is not supported")
    return out, functions, dropped


def _tool_choice(value: Any, functions: dict[str, FunctionName]) -> Any:
    if value is None or (isinstance(value, str) and value in _TOOL_CHOICES):
        return value
    if not isinstance(value, dict):
        raise _fail("tool_choice", "must be auto, none, required or an object")
    kind = value.get("type")
    if kind == "function":
        name = _str(value.get("name"), "tool_choice.name")
        assert name is not None
        namespace = _str(value.get("namespace"), "tool_choice.namespace", optional=True)
        chat_name = next(
            (c for c, f in functions.items() if (f.namespace, f.name) == (namespace, name)),
            None,
        )
        if chat_name is None:
            raise _fail("tool_choice.name", f"no function tool named {name!r}")
        return {"type": "function", "function": {"name": chat_name}}
    if kind == "allowed_tools":
        return "required" if value.get("mode") == "required" else "auto"
    raise _fail("tool_choice.type", f"tool choice {kind!r} is not available")


def _response_format(text: Any) -> dict[str, Any] | None:
    if text is None:
        return None
    if not isinstance(text, dict):
        raise _fail("text", "must be an object")
    fmt = text.get("format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict):
        raise _fail("text.format", "must be an object")
    kind = fmt.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        name = _str(fmt.get("name"), "text.format.name")
        schema = fmt.get("schema")
        if not isinstance(schema, dict):
            raise _fail("text.format.schema", "must be a JSON schema object")
        spec: dict[str, Any] = {"name": name, "schema": schema}
        if isinstance(fmt.get("strict"), bool):
            spec["strict"] = fmt["strict"]
        if isinstance(fmt.get("description"), str):
            spec["description"] = fmt["description"]
        return {"type": "json_schema", "json_schema": spec}
    raise _fail("text.format.type", "must be text, json_object or json_schema")


def _effort(reasoning: Any, model: Any) -> str | None:
    if reasoning is None:
        return None
    if not isinstance(reasoning, dict):
        raise _fail("reasoning", "must be an object")
    effort = reasoning.get("effort")
    if effort is None or effort == "none":
        return None
    if not isinstance(effort, str) or effort not in _EFFORT:
        raise _fail("reasoning.effort", "must be none, minimal, low, medium, high or xhigh")
    bare = model.removeprefix("private/") if isinstance(model, str) else ""
    return _EFFORT[effort] if bare.startswith(REASONING_EFFORT_MODELS) else None


def to_chat(body: dict[str, Any], *, history: list[dict[str, Any]] | None = None) -> ChatRequest:
    """Translate a Responses request; `history` is a stored conversation's chat messages
    (for `previous_response_id`), placed before this request's input."""
    for name, why in _REFUSED.items():
        if body.get(name) not in (None, False):
            raise _fail(name, why)
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise _fail("model", "must be a string")
    instructions = _str(body.get("instructions"), "instructions", optional=True)
    tools, functions, dropped = _tools(body.get("tools"))
    if "input" not in body:
        raise _fail("input", "is required")
    messages = list(history or []) + _input_messages(body["input"], functions)
    if not messages:
        raise _fail("input", "must contain at least one message")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _fail("stream", "must be a boolean")
    chat: dict[str, Any] = {"model": model}
    chat["messages"] = ([{"role": "system", "content": instructions}] if instructions else []) + (
        messages
    )
    if tools:
        chat["tools"] = tools
        choice = _tool_choice(body.get("tool_choice"), functions)
        if choice is not None:
            chat["tool_choice"] = choice
        parallel = body.get("parallel_tool_calls")
        if isinstance(parallel, bool):
            chat["parallel_tool_calls"] = parallel
    max_tokens = body.get("max_output_tokens")
    if max_tokens is not None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise _fail("max_output_tokens", "must be a positive integer")
        chat["max_tokens"] = max_tokens
    for name, high in (("temperature", 2.0), ("top_p", 1.0)):
        value = _number(body.get(name), name, 0.0, high)
        if value is not None:
            chat[name] = value
    response_format = _response_format(body.get("text"))
    if response_format is not None:
        chat["response_format"] = response_format
    effort = _effort(body.get("reasoning"), model)
    if effort is not None:
        chat["reasoning_effort"] = effort
    if stream:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise _fail("metadata", "must be an object")
    echo = {
        "model": model,
        "instructions": instructions,
        "tools": body.get("tools") or [],
        "tool_choice": body.get("tool_choice") or "auto",
        "parallel_tool_calls": body.get("parallel_tool_calls", True) is not False,
        "max_output_tokens": max_tokens,
        "temperature": body.get("temperature"),
        "top_p": body.get("top_p"),
        "text": body.get("text") or {"format": {"type": "text"}},
        "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
        "metadata": metadata or {},
        "user": _str(body.get("user"), "user", optional=True),
        "previous_response_id": body.get("previous_response_id"),
    }
    return ChatRequest(chat, bool(stream), messages, dropped, functions, echo)


__all__ = [
    "HOSTED_TOOL_TYPES",
    "REASONING_EFFORT_MODELS",
    "ChatRequest",
    "FunctionName",
    "items_to_messages",
    "to_chat",
]
