"""The pure Messages translators: request → chat body, chat answer/stream → Messages."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from privproxy.api.translate.errors import TranslationError
from privproxy.api.translate.messages_errors import MessagesAnswerError
from privproxy.api.translate.messages_request import to_chat
from privproxy.api.translate.messages_response import MessagesStream, to_message
from privproxy.api.translate.messages_tokens import estimate_input_tokens
from privproxy.simulator import chat as sim
from tests.privproxy.api.messages_events import check_events

TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def _request(**extra: Any) -> dict[str, Any]:
    return {
        "model": "private/kimi-k3",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hi"}],
        **extra,
    }


# --- request ---------------------------------------------------------------------------


def test_system_blocks_and_system_messages_keep_their_place() -> None:
    chat = to_chat(
        _request(
            system=[
                {"type": "text", "text": "You are terse."},
                {"type": "text", "text": "Be kind.", "cache_control": {"type": "ephemeral"}},
            ],
            messages=[
                {"role": "user", "content": [{"type": "text", "text": "hi"}]},
                {"role": "system", "content": "reminder"},
            ],
        ),
        reasoning=False,
    )
    assert chat.body["messages"] == [
        {"role": "system", "content": "You are terse.\n\nBe kind."},
        {"role": "user", "content": "hi"},
        {"role": "system", "content": "reminder"},
    ]
    assert chat.body["max_tokens"] == 100 and chat.stream is False


def test_tool_use_and_tool_result_become_chat_tool_calls() -> None:
    chat = to_chat(
        _request(
            tools=[TOOL],
            tool_choice={"type": "any", "disable_parallel_tool_use": True},
            messages=[
                {"role": "user", "content": "weather in Paris?"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hm", "signature": "sig=="},
                        {"type": "text", "text": "Checking."},
                        {
                            "type": "tool_use",
                            "id": "toolu_1",
                            "name": "get_weather",
                            "input": {"city": "Paris"},
                        },
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_1",
                            "content": [{"type": "text", "text": "sunny"}],
                            "cache_control": {"type": "ephemeral"},
                        },
                        {"type": "text", "text": "thanks"},
                    ],
                },
            ],
        ),
        reasoning=False,
    )
    messages = chat.body["messages"]
    assert messages[1] == {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {
                "id": "toolu_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    }
    assert messages[2] == {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"}
    assert messages[3] == {"role": "user", "content": "thanks"}
    assert chat.body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": TOOL["input_schema"],
                "description": "Weather for a city",
            },
        }
    ]
    assert chat.body["tool_choice"] == "required"
    assert chat.body["parallel_tool_calls"] is False


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "none"}, "none"),
        (
            {"type": "tool", "name": "get_weather"},
            {"type": "function", "function": {"name": "get_weather"}},
        ),
    ],
)
def test_tool_choice(choice: dict[str, Any], expected: Any) -> None:
    assert (
        to_chat(_request(tools=[TOOL], tool_choice=choice), reasoning=False).body["tool_choice"]
        == expected
    )


def test_images_base64_and_url() -> None:
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.test/a.png"}},
        {"type": "text", "text": "what is this?"},
    ]
    chat = to_chat(_request(messages=[{"role": "user", "content": content}]), reasoning=False)
    assert chat.body["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "image_url", "image_url": {"url": "https://example.test/a.png"}},
        {"type": "text", "text": "what is this?"},
    ]


def test_unknown_fields_and_metadata_are_not_forwarded() -> None:
    chat = to_chat(
        _request(
            metadata={"user_id": "u-123"},
            context_management={"edits": []},
            output_config={"effort": "high"},
            thinking={"type": "adaptive", "display": "omitted"},
            stop_sequences=["END"],
            temperature=0.2,
            top_p=0.9,
            stream=True,
            tools=[{**TOOL, "defer_loading": True}],
        ),
        reasoning=False,
    )
    assert set(chat.body) == {
        "model", "messages", "max_tokens", "stop", "temperature", "top_p", "tools", "stream",
        "stream_options",
    }  # fmt: skip
    assert chat.body["stream_options"] == {"include_usage": True}
    assert "u-123" not in json.dumps(chat.body)
    assert chat.stop_sequences == ("END",)


@pytest.mark.parametrize(
    ("extra", "effort"),
    [
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, "low"),
        ({"thinking": {"type": "enabled", "budget_tokens": 8000}}, "medium"),
        ({"thinking": {"type": "enabled", "budget_tokens": 32000}}, "high"),
        ({"output_config": {"effort": "low"}, "thinking": {"type": "adaptive"}}, "low"),
        ({"thinking": {"type": "adaptive"}}, None),
        ({"thinking": {"type": "disabled"}}, None),
    ],
)
def test_thinking_maps_to_reasoning_effort_only_for_reasoning_models(
    extra: dict[str, Any], effort: str | None
) -> None:
    assert to_chat(_request(**extra), reasoning=True).body.get("reasoning_effort") == effort
    assert "reasoning_effort" not in to_chat(_request(**extra), reasoning=False).body


def test_builtin_tools_are_dropped_and_named() -> None:
    chat = to_chat(
        _request(tools=[TOOL, {"type": "web_search_20250305", "name": "web_search"}]),
        reasoning=False,
    )
    assert [t["function"]["name"] for t in chat.body["tools"]] == ["get_weather"]
    assert chat.dropped_tools == ("web_search",)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"max_tokens": 5, "messages": []}, "model"),
        (_request(messages=[]), "messages"),
        (_request(messages=[{"role": "tool", "content": "x"}]), "messages[0].role"),
        (_request(messages=[{"role": ["user"], "content": "x"}]), "messages[0].role"),
        (
            _request(messages=[{"role": "user", "content": [{"type": "video"}]}]),
            "messages[0].content[0].type",
        ),
        (_request(max_tokens=0), "max_tokens"),
        (_request(stop_sequences="END"), "stop_sequences"),
        (_request(tools=[{"name": "x"}]), "tools[0].input_schema"),
        (_request(tools=[TOOL], tool_choice={"type": "some"}), "tool_choice.type"),
        (_request(temperature="hot"), "temperature"),
        (_request(stream="false"), "stream"),
        (_request(stream=1), "stream"),
    ],
)
def test_malformed_requests_name_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(TranslationError) as info:
        to_chat(body, reasoning=False)
    assert info.value.param == field
    assert info.value.status == 400


def test_token_estimate_grows_with_the_prompt() -> None:
    small = estimate_input_tokens(to_chat(_request(), reasoning=False).body)
    big = estimate_input_tokens(
        to_chat(
            _request(messages=[{"role": "user", "content": "word " * 400}]), reasoning=False
        ).body
    )
    with_tools = estimate_input_tokens(to_chat(_request(tools=[TOOL]), reasoning=False).body)
    assert 1 <= small < with_tools and big >= 500


# --- answers ---------------------------------------------------------------------------


def _completion(message: dict[str, Any], finish: str, **choice: Any) -> dict[str, Any]:
    return {
        "choices": [{"index": 0, "message": message, "finish_reason": finish, **choice}],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 4,
            "prompt_tokens_details": {"cached_tokens": 3},
        },
    }


def test_message_with_text_and_tool_use() -> None:
    chat = _completion(
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                {
                    "id": "call_9",
                    "type": "function",
                    "function": {"name": "ls", "arguments": '{"path":"."}'},
                }
            ],
        },
        "tool_calls",
    )
    message = to_message(chat, message_id="msg_1", model="private/kimi-k3")
    assert message["content"] == [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "call_9", "name": "ls", "input": {"path": "."}},
    ]
    assert message["stop_reason"] == "tool_use"
    assert message["usage"] == {
        "input_tokens": 7, "output_tokens": 4, "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 3,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("finish", "matched", "reason", "sequence"),
    [
        ("stop", "END", "stop_sequence", "END"),
        ("stop", None, "end_turn", None),
        ("stop", "OTHER", "end_turn", None),
        ("length", None, "max_tokens", None),
        ("content_filter", None, "refusal", None),
    ],
)
def test_stop_reasons(finish: str, matched: str | None, reason: str, sequence: str | None) -> None:
    chat = _completion({"role": "assistant", "content": "x"}, finish, stop_reason=matched)
    message = to_message(chat, message_id="m", model="m", stop_sequences=["END"])
    assert (message["stop_reason"], message["stop_sequence"]) == (reason, sequence)


@pytest.mark.parametrize("arguments", ["[1]", "{oops", "42", '{"x": NaN}'])
def test_tool_arguments_that_are_not_an_object_are_refused(arguments: str) -> None:
    chat = _completion(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": arguments}}],
        },
        "tool_calls",
    )
    with pytest.raises(MessagesAnswerError):
        to_message(chat, message_id="m", model="m")


def _translate(chunks: list[Any]) -> list[dict[str, Any]]:
    stream = MessagesStream(message_id="msg_x", model="private/kimi-k3")
    events = stream.start()
    for chunk in chunks:
        events += stream.feed(chunk)
    return events + stream.finish()


def _sim_chunks(request: dict[str, Any], answer: sim.Answer) -> list[Any]:
    out = []
    for raw in sim.stream_events(request, answer):
        data = raw.removeprefix(b"data: ").strip()
        if data != b"[DONE]":
            out.append(json.loads(data))
    return out


# Requests the simulator answers: plain text, or a tool call when asked (or forced).
_words = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=0, max_size=40
)
_kinds = st.sampled_from(["string", "integer", "boolean", "array", "number"])
_schemas = st.fixed_dictionaries(
    {
        "type": st.just("object"),
        "properties": st.dictionaries(
            st.from_regex(r"[a-z]{1,8}", fullmatch=True),
            st.fixed_dictionaries({"type": _kinds}),
            max_size=4,
        ),
    }
)
_tools: st.SearchStrategy[list[dict[str, Any]]] = st.lists(
    st.fixed_dictionaries(
        {"name": st.from_regex(r"[a-z_]{1,12}", fullmatch=True), "input_schema": _schemas}
    ),
    max_size=3,
    unique_by=lambda t: str(t["name"]),
)


@st.composite
def _sim_requests(draw: Any) -> dict[str, Any]:
    tools = draw(_tools)
    prompt = draw(_words)
    if tools and draw(st.booleans()):
        prompt = f"please use {draw(st.sampled_from([t['name'] for t in tools]))} {prompt}"
    request: dict[str, Any] = {"model": "kimi-k3", "max_tokens": 50, "stream": True,
                               "messages": [{"role": "user", "content": prompt}]}  # fmt: skip
    if tools:
        request["tools"] = tools
        request["tool_choice"] = draw(
            st.sampled_from([None, {"type": "auto"}, {"type": "any"}, {"type": "none"}])
        )
        if request["tool_choice"] is None:
            del request["tool_choice"]
    return request


@settings(max_examples=150, deadline=None)
@given(_sim_requests())
def test_every_simulated_chat_stream_is_a_valid_messages_stream(request: dict[str, Any]) -> None:
    chat = to_chat(request, reasoning=False).body
    answer = sim.decide(chat)
    assembled = check_events(_translate(_sim_chunks(chat, answer)))
    if answer.tool_call is not None:
        assert assembled.stop_reason == "tool_use"
        assert [b["type"] for b in assembled.blocks] == ["tool_use"]
        block = assembled.blocks[0]
        assert block["name"] == answer.tool_call.name and block["id"] == answer.tool_call.id
        assert block["input"] == json.loads(answer.tool_call.arguments)
    else:
        assert assembled.stop_reason == "end_turn"
        assert "".join(b["text"] for b in assembled.blocks) == answer.content
    assert assembled.usage["output_tokens"] == sim.usage(chat, answer)["completion_tokens"]


# Arbitrary chat streams: text pieces and tool calls, arguments split anywhere.
@st.composite
def _chat_streams(draw: Any) -> tuple[list[Any], list[tuple[str, Any]]]:
    parts: list[tuple[str, Any]] = draw(
        st.lists(
            st.one_of(
                st.tuples(st.just("text"), st.text(min_size=1, max_size=10)),
                st.tuples(
                    st.just("tool"), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3)
                ),
            ),
            max_size=6,
        )
    )
    chunks: list[Any] = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
    slot = -1
    for kind, value in parts:
        if kind == "text":
            chunks.append({"choices": [{"index": 0, "delta": {"content": value}}]})
            continue
        slot += 1
        text = json.dumps(value)
        cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=4)))
        pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        head = {"index": slot, "id": f"call_{slot}", "type": "function",
                "function": {"name": f"f{slot}", "arguments": pieces[0]}}  # fmt: skip
        chunks.append({"choices": [{"index": 0, "delta": {"tool_calls": [head]}}]})
        for piece in pieces[1:]:
            call = {"index": slot, "function": {"arguments": piece}}
            chunks.append({"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]})
    finish = "tool_calls" if slot >= 0 else draw(st.sampled_from(["stop", "length"]))
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    chunks.append({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 7}})
    return chunks, parts


@settings(max_examples=200, deadline=None)
@given(_chat_streams())
def test_arbitrary_chat_streams_translate_faithfully(
    stream: tuple[list[Any], list[tuple[str, Any]]],
) -> None:
    chunks, parts = stream
    assembled = check_events(_translate(chunks))
    # Consecutive text pieces share one block; each tool call is its own block.
    expected: list[tuple[str, Any]] = []
    for kind, value in parts:
        if kind == "text" and expected and expected[-1][0] == "text":
            expected[-1] = ("text", expected[-1][1] + value)
        else:
            expected.append((kind, value))
    got = [
        ("text", b["text"]) if b["type"] == "text" else ("tool", b["input"])
        for b in assembled.blocks
    ]
    assert got == expected
    assert assembled.usage["output_tokens"] == 7 and assembled.usage["input_tokens"] == 5


def test_stream_refuses_a_tool_call_without_a_name() -> None:
    stream = MessagesStream(message_id="m", model="m")
    stream.start()
    with pytest.raises(MessagesAnswerError):
        stream.feed(
            {
                "choices": [
                    {
                        "delta": {
                            "tool_calls": [{"index": 0, "id": "c", "function": {"arguments": "{}"}}]
                        }
                    }
                ]
            }
        )


# The Messages route writes frequent events from templates: byte for byte the shared encoder's.
@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.text()), max_size=5))
@example([(0, "lone \ud800 surrogate"), (3, 'quote " back\\slash \n\x00 é 🙂')])
def test_text_delta_template_matches_the_event_encoder(deltas: list[tuple[int, str]]) -> None:
    from privproxy.api.messages import _encode
    from privproxy.api.translate.sse import encode_events

    events: list[dict[str, Any]] = [{"type": "ping"}]
    for index, text in deltas:
        delta = {"type": "text_delta", "text": text}
        events.append({"type": "content_block_delta", "index": index, "delta": delta})
        events.append({"type": "content_block_stop", "index": index})
    events += [{"type": "message_stop"}, {"type": "ping", "extra": 1}]
    assert _encode(events) == encode_events(events)
