"""orjson where it is exactly the stdlib: `jsoncodec.decode_exact` gives the stdlib
decoder's value (same types, same numbers, same key order) or None, never another value;
`encode_exact` writes what the stdlib reads back as the same value. And through the proxy:
a translated request orjson cannot read exactly still reaches the enclave unchanged."""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from privproxy.jsoncodec import decode_exact, encode_exact
from tests.privproxy.conftest import ProxyClient
from tests.privproxy.fake_gateway import FakeGateway, chat_completion, json_reply

_TEXTS = st.text(st.characters(codec=None, categories=None), max_size=10) | st.sampled_from(
    ["", "é", "\U0001f600", "\ud800", "\udc00", '"\\/\n\t\x00\x1f', "1e+5", "中文"]
)
_BOUNDS = [2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**19, -(10**19)]
_INTS = st.integers() | st.sampled_from(_BOUNDS) | st.integers(-(2**70), 2**70)
_SCALARS = (
    st.none() | st.booleans() | _INTS | st.floats(allow_nan=False, allow_infinity=False) | _TEXTS
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXTS, inner, max_size=4),
    max_leaves=24,
)
# JSON number literals, out-of-range and long ones included.
_NUMBERS = st.from_regex(r"\A-?(0|[1-9][0-9]{0,40})(\.[0-9]{1,25})?([eE][+-]?[0-9]{1,3})?\Z")


def _same(a: Any, b: Any) -> bool:
    """Equal with the same types all the way down (1 is not 1.0; -0.0 is not 0.0), dict keys
    in the same order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _stdlib(raw: bytes) -> Any:
    """The stdlib's reading of `raw`, or the exception it raises."""
    try:
        return json.loads(raw.decode())
    except (ValueError, RecursionError) as exc:
        return exc


def _check_decode(raw: bytes) -> None:
    value = decode_exact(raw)
    expected = _stdlib(raw)
    if value is None:
        return  # the caller takes the stdlib path: its value or its error
    assert not isinstance(expected, Exception), raw
    assert _same(value, expected), raw


@settings(max_examples=400)
@given(_VALUES, st.booleans(), st.sampled_from([None, 2]))
def test_what_orjson_reads_is_what_the_stdlib_reads(value: Any, ascii: bool, indent: Any) -> None:
    text = json.dumps(value, ensure_ascii=ascii, indent=indent)
    _check_decode(text.encode("utf-8", "surrogatepass"))  # a lone surrogate: invalid UTF-8


@settings(max_examples=400)
@given(_NUMBERS)
@example("18446744073709551616")
@example("-9223372036854775809")
@example("123456789012345678901234567890")
@example("1e400")
@example("-0")
@example("4.9e-324")
@example("2.4e-324")
@example("1.7976931348623157e308")
@example("9007199254740993")
def test_a_number_is_read_as_the_stdlib_reads_it_or_not_at_all(literal: str) -> None:
    _check_decode(f'{{"n":{literal}}}'.encode())


@pytest.mark.parametrize(
    "literal", ["18446744073709551616", "-9223372036854775809", "1" * 40, "-" + "9" * 25]
)
def test_an_integer_beyond_64_bits_is_left_to_the_stdlib(literal: str) -> None:
    # orjson would read it as a float: another value.
    assert decode_exact(f'{{"n":[{literal}]}}'.encode()) is None


@pytest.mark.parametrize(
    "raw",
    [b'{"n":1e400}', b'{"n":NaN}', b'"\\ud800"', b"[" * 2000 + b"]" * 2000, b"\xff", b"{} x"],
)
def test_what_orjson_refuses_is_left_to_the_stdlib(raw: bytes) -> None:
    assert decode_exact(raw) is None


def test_nesting_orjson_reads_but_cannot_write_is_left_to_the_stdlib() -> None:
    raw = b"[" * 300 + b"]" * 300  # read up to 1024 levels, written up to 255
    assert decode_exact(raw) is None


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_float_an_integer_beyond_64_bits_becomes_is_written_with_an_exponent(
    x: float,
) -> None:
    # What `decode_exact` relies on to notice such an integer.
    if abs(x) >= 2.0**63:
        assert b"e+" in orjson.dumps(x)


@settings(max_examples=400)
@given(_VALUES)
def test_what_orjson_writes_reads_back_as_the_same_value(value: Any) -> None:
    out = encode_exact(value)
    if out is None:  # a lone surrogate or an integer beyond 64 bits: the stdlib writes it
        return
    assert _same(json.loads(out), value)
    assert b"\n" not in out  # one line: it may stand in an event's data line


async def test_a_translated_request_with_a_big_integer_reaches_the_enclave_exactly(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    gateway.reply = lambda seen: json_reply(chat_completion("ok", seen.body["model"]))
    big = 2**64 + 1  # orjson alone would send 18446744073709551616 (a float's value)
    schema = {"type": "object", "properties": {"n": {"type": "integer", "maximum": big}}}
    tool = {"type": "function", "name": "f", "parameters": schema}
    body = {"input": "x", "tools": [tool], "temperature": 0.7}
    resp = await proxy.post(
        "/v1/responses", data=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    assert resp.status == 200
    sent = gateway.seen[-1].body
    assert sent["tools"][0]["function"]["parameters"]["properties"]["n"]["maximum"] == big
    assert sent["temperature"] == 0.7


async def test_a_translated_request_read_by_orjson_reaches_the_enclave_with_its_values(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    gateway.reply = lambda seen: json_reply(chat_completion("ok", seen.body["model"]))
    text = 'Résumé — 🙂 \u2028 "q" \\ ' * 50
    body = {"input": text, "temperature": 1e-7, "top_p": 0.9, "metadata": {"k": "v"}}
    assert decode_exact(json.dumps(body).encode()) is not None
    resp = await proxy.post(
        "/v1/responses", data=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    assert resp.status == 200
    sent = gateway.seen[-1].body
    assert sent["messages"] == [{"role": "user", "content": text}]
    assert _same(sent["temperature"], 1e-7) and _same(sent["top_p"], 0.9)
