"""The simulated model's decisions: echo, scripted text, tool calls served once."""

from __future__ import annotations

import json
from typing import Any

from privproxy.simulator.chat import completion, decide, stream_events

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "exec",
            "parameters": {
                "type": "object",
                "properties": {"command": {"type": "string"}, "mode": {"enum": ["a", "b"]}},
                "required": ["command", "mode"],
            },
        },
    },
    {"type": "function", "function": {"name": "read"}},
]


def _req(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": list(messages), **extra}


def test_echoes_the_first_line_of_the_latest_plain_user_message() -> None:
    answer = decide(_req({"role": "user", "content": "Say hello\n\nRuntime: details"}))
    assert answer.content == "[SIMULATED] You said: Say hello" and answer.tool_call is None


def test_script_overrides_the_echo() -> None:
    answer = decide(_req({"role": "user", "content": "x"}), lambda request: "scripted")
    assert answer.content == "[SIMULATED] scripted"
    kept = decide(_req({"role": "user", "content": "x"}), lambda request: "SIMULATED text")
    assert kept.content == "SIMULATED text"


def test_calls_a_tool_only_when_asked_and_only_once() -> None:
    ask = {"role": "user", "content": "please run exec now"}
    first = decide(_req(ask, tools=TOOLS))
    assert first.tool_call is not None and first.tool_call.name == "exec"
    assert json.loads(first.tool_call.arguments) == {"command": "ls", "mode": "a"}
    call = {"role": "assistant", "tool_calls": [{"id": first.tool_call.id}]}
    result = {"role": "tool", "tool_call_id": first.tool_call.id, "content": "done"}
    # OpenClaw appends its own context message after tool results; still no second call.
    context = {"role": "user", "content": [{"type": "text", "text": "Active exec sessions"}]}
    second = decide(_req(ask, call, result, context, tools=TOOLS))
    assert second.tool_call is None and second.content == "[SIMULATED] The tool returned: done"


def test_mentioning_a_tool_name_is_not_asking_for_it() -> None:
    context = {"role": "user", "content": [{"type": "text", "text": "Active exec sessions: none"}]}
    answer = decide(_req({"role": "user", "content": "Say hello"}, context, tools=TOOLS))
    assert answer.tool_call is None and answer.content == "[SIMULATED] You said: Say hello"


def test_tool_choice_forces_the_named_function() -> None:
    choice = {"type": "function", "function": {"name": "read"}}
    answer = decide(_req({"role": "user", "content": "hi"}, tools=TOOLS, tool_choice=choice))
    assert answer.tool_call is not None and answer.tool_call.name == "read"
    assert (
        decide(
            _req({"role": "user", "content": "use exec"}, tools=TOOLS, tool_choice="none")
        ).tool_call
        is None
    )


def test_stream_and_completion_agree_on_the_tool_call() -> None:
    request = _req({"role": "user", "content": "call exec"}, tools=TOOLS)
    answer = decide(request)
    events = [json.loads(e[6:]) for e in stream_events(request, answer) if e != b"data: [DONE]\n\n"]
    arguments = "".join(
        c["choices"][0]["delta"].get("tool_calls", [{}])[0].get("function", {}).get("arguments", "")
        for c in events
        if c["choices"]
    )
    assert answer.tool_call is not None and arguments == answer.tool_call.arguments
    assert events[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert events[-1]["choices"] == [] and events[-1]["usage"]["total_tokens"] > 0
    full = completion(request, answer)
    assert full["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "exec"


def test_list_files_prompt_calls_a_shell_like_tool_with_ls() -> None:
    shell = {
        "type": "function",
        "function": {
            "name": "exec_command",
            "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}},
        },
    }
    other = {"type": "function", "function": {"name": "view_image", "parameters": {}}}
    ask = {"role": "user", "content": "List the files in the current directory"}
    first = decide(_req(ask, tools=[other, shell]))
    assert first.tool_call is not None and first.tool_call.name == "exec_command"
    assert json.loads(first.tool_call.arguments) == {"cmd": "ls"}
    assert decide(_req(ask)).tool_call is None  # no tools on offer: text
    assert decide(_req(ask, tools=[other])).tool_call is None  # no shell-like tool: text
    call = {"role": "assistant", "tool_calls": [{"id": first.tool_call.id}]}
    result = {"role": "tool", "tool_call_id": first.tool_call.id, "content": "a.txt"}
    final = decide(_req(ask, call, result, tools=[other, shell]))
    assert final.tool_call is None and final.content is not None
    assert "SIMULATED" in final.content and "a.txt" in final.content


def test_json_response_formats_get_json_saying_simulated() -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "n": {"type": ["integer", "null"]}},
        "required": ["city", "n"],
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    answer = decide(_req({"role": "user", "content": "hi"}, response_format=fmt))
    assert answer.content is not None and json.loads(answer.content) == {
        "city": "SIMULATED",
        "n": 1,
    }
    plain = decide(_req({"role": "user", "content": "hi"}, response_format={"type": "json_object"}))
    assert plain.content is not None
    assert json.loads(plain.content) == {"answer": "[SIMULATED] You said: hi"}
