"""How a translated answer's JSON is read (`sealed_chat._chunk`): by orjson, and what orjson
refuses by the stdlib decoder, whose value or error stands."""

from __future__ import annotations

import json
import math

import pytest

from privproxy.api.sealed_chat import EnclaveAnswerError, MalformedAnswerError, _chunk


def test_a_chunk_reads_as_the_stdlib_reads_it() -> None:
    text = json.dumps({"choices": [{"index": 0, "delta": {"content": 'é "q" \\ \u2028'}}]})
    assert _chunk(text) == json.loads(text)


def test_what_orjson_refuses_is_read_by_the_stdlib() -> None:
    # A lone surrogate escape and a number beyond float range: the stdlib's values.
    assert _chunk('{"choices":[],"t":"\\ud800"}')["t"] == "\ud800"
    assert math.isinf(_chunk('{"choices":[],"n":1e400}')["n"])


@pytest.mark.parametrize(
    "text", ["[" * 2000 + "]" * 2000, '{"a":NaN}', "{} x", "[1]", '{"a":1,}', "\ud800"]
)
def test_what_neither_reads_as_an_object_is_a_malformed_answer(text: str) -> None:
    with pytest.raises(MalformedAnswerError):
        _chunk(text)


def test_an_error_event_is_the_enclaves_error() -> None:
    with pytest.raises(EnclaveAnswerError):
        _chunk('{"error":{"message":"overloaded","type":"server_error"}}')


def test_an_integer_beyond_64_bits_reads_as_a_float() -> None:
    # The documented difference: such a token count or index counts as absent.
    assert _chunk('{"choices":[],"usage":{"prompt_tokens":18446744073709551617}}')["usage"][
        "prompt_tokens"
    ] == float(2**64)
