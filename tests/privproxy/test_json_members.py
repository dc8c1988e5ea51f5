"""`json_members.parse_members`: the decoder's values, and where each member's value is."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privproxy.server.json_members import DECODER, parse_members
from privproxy.server.receive import Received

_SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
_SPACES = st.sampled_from(["", " ", "\n  ", "\t"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=6), _VALUES, max_size=6), _SPACES, st.booleans())
def test_values_and_spans_are_the_decoders(obj: dict[str, Any], space: str, ascii_: bool) -> None:
    text = json.dumps(obj, ensure_ascii=ascii_, separators=("," + space, ":" + space))
    text = f"{space}{text}{space}"
    members = parse_members(text)
    assert members is not None and members.unique
    assert members.value == DECODER.decode(text) == obj
    assert set(members.spans) == set(obj)
    for key, (start, end) in members.spans.items():
        assert json.loads(text[start:end]) == obj[key]
    assert text[members.close] == "}"


def test_duplicate_keys_keep_the_last_value_and_the_first_span() -> None:
    text = '{"a": 1, "b": [2], "a": {"c": 3}}'
    members = parse_members(text)
    assert members is not None and not members.unique
    assert members.value == json.loads(text) == {"a": {"c": 3}, "b": [2]}
    assert text[slice(*members.spans["a"])] == "1"


@pytest.mark.parametrize("text", ["[1]", '"x"', "3", "null"])
def test_other_json_is_not_an_object(text: str) -> None:
    assert parse_members(text) is None


@pytest.mark.parametrize("text", ["{", '{"a" 1}', '{"a": 1,}', '{"a": 1} x', '{"a": NaN}', ""])
def test_what_the_decoder_refuses_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_members(text)


def test_member_json_gives_a_members_text_on_one_line_only() -> None:
    text = '{"tools": [{"type": "function"}], "input": [\n1]}'
    members = parse_members(text)
    assert members is not None
    received = Received(members.value, text, members.spans)
    assert received.member_json("tools") == '[{"type": "function"}]'
    assert received.member_json("input") is None  # a raw newline cannot stand in a data line
    assert received.member_json("model") is None
    assert Received(members.value, text).member_json("tools") is None  # no spans: small bodies


def test_member_json_of_a_body_read_by_orjson_is_its_compact_json() -> None:
    value = {"tools": [{"type": "function", "name": "é\n"}], "input": "x"}
    received = Received(value, "", None, 10, exact=True)
    assert received.member_json("tools") == '[{"type":"function","name":"é\\n"}]'
    assert received.member_json("model") is None
