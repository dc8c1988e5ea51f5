"""Responses request → chat body (pure): real Codex requests first, then each field."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privproxy.api.translate.errors import TranslationError
from privproxy.api.translate.responses_request import FunctionName, items_to_messages, to_chat
from tests.conftest import data_path


def _codex() -> dict[str, Any]:
    turns: dict[str, Any] = json.loads(
        data_path("agents", "codex-0.171.0-tool-turn.json").read_text()
    )
    return turns


def _fails(body: dict[str, Any]) -> TranslationError:
    with pytest.raises(TranslationError) as info:
        to_chat(body)
    assert info.value.status == 400
    return info.value


def test_codex_first_request_translates() -> None:
    body = _codex()["turn1"]
    out = to_chat(copy.deepcopy(body))
    chat = out.chat
    assert out.stream and chat["stream"] is True
    assert chat["stream_options"] == {"include_usage": True}
    assert chat["model"] == "private/kimi-k3"
    roles = [m["role"] for m in chat["messages"]]
    # developer messages become system messages; the user's text parts become strings
    assert roles[0] == "system" and "developer" not in roles
    assert chat["messages"][-1] == {
        "role": "user",
        "content": "List the files in the current directory",
    }
    assert all(isinstance(m["content"], str) for m in chat["messages"])
    # web_search is hosted: dropped and named, never forwarded
    assert out.dropped_tools == ["web_search"]
    assert "web_search" not in json.dumps(chat["tools"])
    names = [t["function"]["name"] for t in chat["tools"]]
    assert "exec_command" in names
    # the namespace's functions are flattened and map back to (namespace, name)
    ns = next(t for t in body["tools"] if t["type"] == "namespace")
    inner = ns["tools"][0]["name"]
    flat = f"{ns['name']}__{inner}"
    assert flat in names and out.functions[flat] == FunctionName(inner, ns["name"])
    assert chat["tool_choice"] == "auto" and chat["parallel_tool_calls"] is True
    # local-only fields are not forwarded
    for name in ("store", "include", "prompt_cache_key", "client_metadata", "reasoning"):
        assert name not in chat


def test_codex_tool_result_request_becomes_tool_call_and_tool_message() -> None:
    body = _codex()["turn2"]
    call, output = body["input"][-2], body["input"][-1]
    messages = to_chat(copy.deepcopy(body)).chat["messages"]
    assert messages[-2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call["call_id"],
                "type": "function",
                "function": {"name": "exec_command", "arguments": call["arguments"]},
            }
        ],
    }
    assert messages[-1] == {
        "role": "tool",
        "tool_call_id": output["call_id"],
        "content": output["output"],
    }


def test_reasoning_items_are_accepted_and_their_encrypted_content_never_forwarded() -> None:
    body = _codex()["turn2"]
    secret = "gAAAAB-encrypted-state-of-another-service"
    body["input"].insert(
        -2,
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [{"type": "summary_text", "text": "thinking about files"}],
            "content": None,
            "encrypted_content": secret,
        },
    )
    chat = to_chat(body).chat
    text = json.dumps(chat)
    assert secret not in text and "thinking about files" not in text
    assert chat["messages"][-2]["tool_calls"][0]["function"]["name"] == "exec_command"


def test_string_input_instructions_and_sampling() -> None:
    out = to_chat(
        {
            "model": "kimi-k3",
            "input": "hello",
            "instructions": "be brief",
            "max_output_tokens": 50,
            "temperature": 0.2,
            "top_p": 0.9,
            "metadata": {"k": "v"},
            "user": "u1",
            "unknown_future_field": {"x": 1},
        }
    )
    assert out.chat == {
        "model": "kimi-k3",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hello"},
        ],
        "max_tokens": 50,
        "temperature": 0.2,
        "top_p": 0.9,
    }
    assert not out.stream
    assert out.messages == [{"role": "user", "content": "hello"}]  # no instructions: not kept
    assert out.echo["metadata"] == {"k": "v"} and out.echo["user"] == "u1"


def test_images_and_mixed_parts() -> None:
    out = to_chat(
        {
            "input": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "what is this?"},
                        {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
                        {"type": "input_image", "image_url": "https://x/y.png", "detail": "low"},
                    ],
                },
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "a cat"}],
                },
            ]
        }
    )
    user, assistant = out.chat["messages"]
    assert user["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}},
    ]
    assert assistant == {"role": "assistant", "content": "a cat"}


def test_parallel_calls_share_one_assistant_message() -> None:
    calls = [
        {"type": "function_call", "call_id": f"c{i}", "name": "f", "arguments": "{}"}
        for i in range(2)
    ]
    outputs = [
        {
            "type": "function_call_output",
            "call_id": f"c{i}",
            "output": [{"type": "input_text", "text": "ok"}],
        }
        for i in range(2)
    ]
    messages = to_chat({"input": [{"role": "user", "content": "go"}, *calls, *outputs]}).chat[
        "messages"
    ]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool"]
    assert [c["id"] for c in messages[1]["tool_calls"]] == ["c0", "c1"]
    assert messages[2]["content"] == "ok"


def test_tool_choice_text_format_and_reasoning_effort() -> None:
    tools = [{"type": "function", "name": "get", "parameters": {"type": "object"}}]
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    out = to_chat(
        {
            "model": "private/gpt-oss-120b",
            "input": "x",
            "tools": tools,
            "tool_choice": {"type": "function", "name": "get"},
            "parallel_tool_calls": False,
            "text": {
                "format": {"type": "json_schema", "name": "A", "schema": schema, "strict": True}
            },
            "reasoning": {"effort": "minimal"},
        }
    )
    chat = out.chat
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "get"}}
    assert chat["parallel_tool_calls"] is False
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "A", "schema": schema, "strict": True},
    }
    assert chat["reasoning_effort"] == "low"
    # a model that does not take reasoning_effort does not get it
    assert (
        "reasoning_effort"
        not in to_chat({"model": "kimi-k3", "input": "x", "reasoning": {"effort": "high"}}).chat
    )
    assert to_chat({"input": "x", "text": {"format": {"type": "json_object"}}}).chat[
        "response_format"
    ] == {"type": "json_object"}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "input"),
        ({"input": 5}, "input"),
        ({"input": []}, "input"),
        ({"input": ["x"]}, "input[0]"),
        ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file"}]}]},
            "input[0].content[0].type",
        ),
        ({"input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
        (
            {"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]},
            "input[0].call_id",
        ),
        ({"input": "x", "tools": [{"type": "mystery"}]}, "tools[0].type"),
        ({"input": "x", "tools": [{"type": "function"}]}, "tools[0].name"),
        (
            {
                "input": "x",
                "tools": [{"type": "function", "name": "f"}],
                "tool_choice": {"type": "function", "name": "g"},
            },
            "tool_choice.name",
        ),
        ({"input": "x", "max_output_tokens": 0}, "max_output_tokens"),
        ({"input": "x", "temperature": 3}, "temperature"),
        ({"input": "x", "temperature": True}, "temperature"),
        (
            {"input": "x", "text": {"format": {"type": "json_schema", "name": "a"}}},
            "text.format.schema",
        ),
        ({"input": "x", "reasoning": {"effort": "max"}}, "reasoning.effort"),
        ({"input": "x", "conversation": "conv_1"}, "conversation"),
        ({"input": "x", "background": True}, "background"),
        ({"input": "x", "stream": "yes"}, "stream"),
        ({"input": "x", "model": 3}, "model"),
    ],
)
def test_malformed_fields_are_named(body: dict[str, Any], param: str) -> None:
    err = _fails(body)
    assert err.param == param
    assert err.to_json()["error"]["param"] == param
    assert err.to_json()["error"]["type"] == "invalid_request_error"


def test_output_items_map_back_to_chat_history() -> None:
    functions = {"ns__f": FunctionName("f", "ns")}
    output = [
        {
            "type": "reasoning",
            "id": "rs",
            "summary": [],
            "content": [{"type": "reasoning_text", "text": "t"}],
        },
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "hi"}],
        },
        {
            "type": "function_call",
            "call_id": "c",
            "name": "f",
            "namespace": "ns",
            "arguments": "{}",
        },
    ]
    assert items_to_messages(output, functions) == [
        {
            "role": "assistant",
            "content": "hi",
            "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "ns__f", "arguments": "{}"}}
            ],
        }
    ]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_FIELDS = [
    "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls",
    "max_output_tokens", "temperature", "top_p", "text", "reasoning", "metadata", "user",
    "stream", "store", "include",
]  # fmt: skip
_ITEM = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(
            ["message", "function_call", "function_call_output", "reasoning", "x"]
        ),
        "role": st.sampled_from(["user", "assistant", "developer", "system", "tool"]) | _JSON,
        "content": st.text(max_size=8)
        | st.lists(
            st.fixed_dictionaries(
                {"type": st.sampled_from(["input_text", "input_image", "output_text"]) | _JSON},
                optional={"text": _JSON, "image_url": _JSON},
            ),
            max_size=3,
        )
        | _JSON,
        "call_id": st.text(max_size=4) | _JSON,
        "name": st.text(max_size=4) | _JSON,
        "arguments": st.text(max_size=4) | _JSON,
        "output": st.text(max_size=4) | _JSON,
    },
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from(_FIELDS), _JSON, max_size=6),
    st.one_of(st.text(max_size=8), st.lists(_ITEM, max_size=5)),
)
def test_any_json_body_translates_or_is_refused_by_field(body: dict[str, Any], items: Any) -> None:
    body.setdefault("input", items)
    try:
        out = to_chat(body)
    except TranslationError as err:
        assert err.status == 400
        assert err.param.split("[")[0].split(".")[0] in {*_FIELDS, "input"}
        return
    json.dumps(out.chat)  # the body to seal is plain JSON
    assert out.chat["messages"]
    assert all(m["role"] in {"system", "user", "assistant", "tool"} for m in out.chat["messages"])
