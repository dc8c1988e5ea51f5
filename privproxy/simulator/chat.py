"""The simulated model: OpenAI chat-completion answers, plain or streamed, with tool calls.

Answers are deterministic: a `Script` may supply the text; otherwise the model echoes the
first line of the latest plain-text user message, prefixed `[SIMULATED]`. Every text answer
contains the word SIMULATED (a scripted one without it is prefixed). When the request offers
`tools` and a user message asks to "use / call / run <function>" (or to "list the files",
with a shell-like function taking `cmd`/`command` on offer: it runs `ls`), or `tool_choice`
demands one, the model calls it once, with arguments built from the tool's JSON schema; once
the tool has answered it reports the result. Agents that append context messages of their
own (OpenClaw does) therefore get one tool call per request for it, never a loop; an agent
driving a tool loop (Codex over the Responses API) gets a call, then a final text answer.
A `response_format` asking for JSON gets JSON: an instance of the schema (its strings say
SIMULATED) or, for `json_object`, `{"answer": "[SIMULATED] ..."}`.

Non-streaming answers carry OpenAI `usage`; streams end with a usage-only chunk (empty
`choices`) and `data: [DONE]`, as PPQ sends them. Token counts are whitespace word counts.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

Script = Callable[[dict[str, Any]], str | None]
"""Custom answer text for a decrypted request; `None` falls back to the echo."""

PREFIX = "[SIMULATED]"


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One function call the model decided to make."""

    id: str
    name: str
    arguments: str  # JSON text


@dataclass(frozen=True, slots=True)
class Answer:
    """What the model says: text, or a tool call."""

    content: str | None
    tool_call: ToolCall | None

    @property
    def finish_reason(self) -> str:
        """`tool_calls` when calling a tool, else `stop`."""
        return "tool_calls" if self.tool_call else "stop"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def _words(text: str) -> int:
    return len(text.split())


_PATH_NAMES: Final = frozenset({"path", "dir", "directory", "cwd", "workdir"})
_COMMAND_NAMES: Final = frozenset({"cmd", "command"})
_COMMAND: Final = "ls"  # a command that runs wherever a shell tool runs, and changes nothing


def _example(schema: Any, name: str = "", word: str = "simulated") -> Any:
    if not isinstance(schema, dict):
        return None
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):  # ["string", "null"]: the first non-null type
        kind = next((k for k in kind if k != "null"), None)
    if not isinstance(kind, str):
        return None
    if kind == "string" and name.lower() in _PATH_NAMES:
        return "."  # a path that exists wherever the tool runs
    if name.lower() in _COMMAND_NAMES and kind in ("string", "array"):
        return _COMMAND if kind == "string" else [_COMMAND]
    examples = {"string": word, "number": 1, "integer": 1, "boolean": True}
    if kind in examples:
        return examples[kind]
    if kind == "array":
        return []
    if kind == "object":
        return _arguments(schema, word)
    return None


def _arguments(parameters: Any, word: str = "simulated") -> dict[str, Any]:
    if not isinstance(parameters, dict) or not isinstance(parameters.get("properties"), dict):
        return {}
    props: dict[str, Any] = parameters["properties"]
    required = parameters.get("required")
    names = required if isinstance(required, list) else list(props)
    return {n: _example(props.get(n), n, word) for n in names if isinstance(n, str)}


def _functions(request: dict[str, Any]) -> list[dict[str, Any]]:
    tools = request.get("tools")
    if not isinstance(tools, list):
        return []
    out = []
    for tool in tools:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            out.append(fn)
    return out


_ASK: Final = re.compile(
    r"\b(?:use|call|run|invoke)\s+(?:the\s+)?([A-Za-z0-9_.:-]+)", re.IGNORECASE
)


# "List the files ..." (what an agent's tool turn asks): answered with a shell-like tool.
_LIST_FILES: Final = re.compile(r"\blist\b[^.\n]*\bfiles?\b", re.IGNORECASE)


def _shell_function(functions: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first function taking a `cmd`/`command` argument (an agent's shell tool)."""
    for function in functions:
        params = function.get("parameters")
        props = params.get("properties") if isinstance(params, dict) else None
        if isinstance(props, dict) and _COMMAND_NAMES & {str(k).lower() for k in props}:
            return function
    return None


def _asked_function(
    messages: list[dict[str, Any]], functions: list[dict[str, Any]]
) -> tuple[int, dict[str, Any]] | None:
    """The latest user message asking to "use/call/run <function>" (or to list files, with
    a shell-like function on offer), with its index."""
    by_name = {f["name"].lower(): f for f in functions}
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") != "user":
            continue
        text = _text(messages[index].get("content"))
        for match in _ASK.finditer(text):
            function = by_name.get(match.group(1).lower().rstrip(".:"))
            if function is not None:
                return index, function
        shell = _shell_function(functions) if _LIST_FILES.search(text) else None
        if shell is not None:
            return index, shell
    return None


def _chosen_function(
    request: dict[str, Any], messages: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The function to call now, if any. Each request for a tool is served once."""
    functions = _functions(request)
    choice = request.get("tool_choice")
    if not functions or choice == "none":
        return None
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    if isinstance(choice, dict) or choice == "required":
        if any(m.get("role") == "tool" for m in messages[last_user + 1 :]):
            return None
        if choice == "required":
            return functions[0]
        fn = choice.get("function") if isinstance(choice, dict) else None
        wanted = fn.get("name") if isinstance(fn, dict) else None
        return next((f for f in functions if f["name"] == wanted), None)
    asked = _asked_function(messages, functions)
    if asked is None:
        return None
    index, function = asked
    answered = any(m.get("role") == "tool" for m in messages[index + 1 :])
    return None if answered else function


def _prompt(messages: list[dict[str, Any]]) -> str:
    """What to echo: the first line of the latest plain-text user message (else any)."""
    users = [m for m in messages if m.get("role") == "user"]
    plain = [m for m in users if isinstance(m.get("content"), str)]
    text = _text((plain or users or [{}])[-1].get("content"))
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _structured(request: dict[str, Any], messages: list[dict[str, Any]]) -> str | None:
    """JSON text for a `response_format` of json_schema (an instance of the schema, strings
    saying SIMULATED) or json_object; None for plain text."""
    fmt = request.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "json_schema":
        spec = fmt.get("json_schema") if isinstance(fmt, dict) else None
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return json.dumps(_arguments(schema, "SIMULATED"))
    if kind == "json_object":
        return json.dumps({"answer": f"{PREFIX} You said: {_prompt(messages)}"})
    return None


def decide(request: dict[str, Any], script: Script | None = None) -> Answer:
    """The model's answer to a decrypted chat request."""
    raw = request.get("messages")
    messages = [m for m in raw if isinstance(m, dict)] if isinstance(raw, list) else []
    function = _chosen_function(request, messages)
    if function is not None:
        args = json.dumps(_arguments(function.get("parameters")))
        return Answer(None, ToolCall(f"call_sim_{secrets.token_hex(6)}", function["name"], args))
    last_plain = max(
        (
            i
            for i, m in enumerate(messages)
            if m.get("role") == "user" and isinstance(m.get("content"), str)
        ),
        default=-1,
    )
    results = [m for m in messages[last_plain + 1 :] if m.get("role") == "tool"]
    if results:  # the tool asked for in this turn has answered: report its result
        return Answer(f"{PREFIX} The tool returned: {_text(results[-1].get('content'))}", None)
    structured = _structured(request, messages)
    if structured is not None:
        return Answer(structured, None)
    scripted = script(request) if script is not None else None
    if scripted is not None and "SIMULATED" not in scripted:
        scripted = f"{PREFIX} {scripted}"  # every answer says it is simulated
    return Answer(
        scripted if scripted is not None else f"{PREFIX} You said: {_prompt(messages)}", None
    )


def usage(request: dict[str, Any], answer: Answer) -> dict[str, int]:
    """OpenAI `usage` with word counts standing in for tokens."""
    messages = request.get("messages")
    prompt = sum(
        _words(_text(m.get("content")))
        for m in (messages if isinstance(messages, list) else [])
        if isinstance(m, dict)
    )
    completion = _words(answer.content or "") + (
        _words(answer.tool_call.arguments) if answer.tool_call else 0
    )
    prompt, completion = max(prompt, 1), max(completion, 1)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _tool_call_json(call: ToolCall) -> dict[str, Any]:
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }


def completion(request: dict[str, Any], answer: Answer) -> dict[str, Any]:
    """A non-streaming `chat.completion` object."""
    message: dict[str, Any] = {"role": "assistant", "content": answer.content}
    if answer.tool_call is not None:
        message["tool_calls"] = [_tool_call_json(answer.tool_call)]
    return {
        "id": f"chatcmpl-sim-{secrets.token_hex(8)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model"),
        "choices": [{"index": 0, "message": message, "finish_reason": answer.finish_reason}],
        "usage": usage(request, answer),
    }


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


def stream_events(request: dict[str, Any], answer: Answer) -> Iterator[bytes]:
    """The SSE events of a streamed answer, each `data: <json>\\n\\n`, then `[DONE]`."""
    base = {
        "id": f"chatcmpl-sim-{secrets.token_hex(8)}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": request.get("model"),
    }

    def event(delta: dict[str, Any], finish: str | None = None) -> bytes:
        chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return b"data: " + json.dumps(chunk).encode() + b"\n\n"

    yield event({"role": "assistant", "content": ""})
    if answer.tool_call is not None:
        call = answer.tool_call
        head = {**_tool_call_json(call), "index": 0}
        head["function"] = {"name": call.name, "arguments": ""}
        yield event({"tool_calls": [head]})
        args = call.arguments
        for i in range(0, len(args), 8):
            yield event({"tool_calls": [{"index": 0, "function": {"arguments": args[i : i + 8]}}]})
    else:
        for piece in _pieces(answer.content or ""):
            yield event({"content": piece})
    yield event({}, answer.finish_reason)
    final: dict[str, Any] = {**base, "choices": [], "usage": usage(request, answer)}
    yield b"data: " + json.dumps(final).encode() + b"\n\n"
    yield b"data: [DONE]\n\n"


__all__ = [
    "PREFIX",
    "Answer",
    "Script",
    "ToolCall",
    "completion",
    "decide",
    "stream_events",
    "usage",
]
