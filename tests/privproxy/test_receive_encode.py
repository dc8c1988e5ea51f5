"""How a translated request's chat body is encoded: `receive.encode_json` with the client's
request (`Received`) escapes non-ASCII characters when that is cheaper, and never
changes a value or what is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from privproxy.jsoncodec import ascii_encode, compact_encode
from privproxy.server.receive import InvalidRequestError, Received, encode_json

# Every code point, surrogates included (a JSON text can spell them as escapes).
_TEXTS = st.text(st.characters(codec=None, categories=None), max_size=12) | st.sampled_from(
    ["", "é", "—", "\U0001f600", "\ud800", "\udc00", '"\\/\n\t\x00\x1f', "\u2028", "中文"]
)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXTS
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXTS, inner, max_size=4),
    max_leaves=24,
)


def _strings(value: Any) -> list[str]:
    """Every string of `value`, keys included, in order."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in (key, *_strings(item))]
    return []


def _received(text: str) -> tuple[Any, Received]:
    """The value and what `receive_object` gives for a body whose text is `text`."""
    raw = bytearray(text.encode())
    decoded = raw.decode()
    value = json.loads(decoded)
    return value, Received(value, decoded, None, len(raw))


def _outcome(encode: Any) -> bytes | str:
    try:
        payload: bytes = encode()
    except InvalidRequestError as err:
        return err.message
    return payload


def _surrogates(value: Any) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for s in _strings(value) for c in s)


@settings(max_examples=400)
@given(_VALUES)
@example({"a": "\U0001f600 é — \u2028", "b": ["\x00", '"\\']})
def test_ascii_encode_writes_the_same_values_in_ascii(value: Any) -> None:
    out = ascii_encode(value)
    assert out.isascii()
    if not _surrogates(value):  # those only come from escapes, and UTF-8 refuses them
        assert json.loads(out) == json.loads(compact_encode(value))  # strict: valid JSON


def test_ascii_encode_writes_surrogate_code_points_as_escapes() -> None:
    # Two adjacent surrogate code points read back as one character: why `encode_json`
    # never escapes a translation of a text with surrogate escapes.
    assert json.loads(ascii_encode(["\ud83d\ude00", "\ud800"])) == ["\U0001f600", "\ud800"]
    with pytest.raises(UnicodeEncodeError):
        compact_encode(["\ud800"]).encode()


@settings(max_examples=600)
@given(_VALUES, st.booleans(), st.booleans(), st.sampled_from([0, 20_000]))
@example({"p": "\ud800"}, True, False, 20_000)  # a lone surrogate escape: refused either way
@example({"p": "\ud83d\ude00 é"}, True, True, 20_000)  # a valid pair spelled as escapes
@example({"p": "中文" * 40}, False, False, 0)  # mostly non-ASCII: UTF-8 kept
@example({"p": "plain ascii — with a dash " * 10}, False, True, 0)
def test_translation_of_a_source_encodes_to_the_same_values_and_refusals(
    value: Any, escaped: bool, joined: bool, padding: int
) -> None:
    # The client's text: escaped non-ASCII, or UTF-8 where it can be (a raw lone surrogate
    # is not UTF-8: such a client escapes it); ASCII padding makes the escaping pay.
    client = {"v": value, "pad": "p" * padding}
    try:
        text = json.dumps(client, ensure_ascii=escaped)
        text.encode()
    except UnicodeEncodeError:
        text = json.dumps(client, ensure_ascii=True)
    decoded, source = _received(text)
    strings = _strings(decoded)
    # A translation: the client's values moved, and its strings joined (as the
    # translators join text parts), no other strings than the client's and constants.
    glue = "" if joined else "\n\n"
    body = {"model": "m", "messages": [{"role": "user", "content": glue.join(strings)}]}
    body["copied"] = decoded["v"]
    expected = _outcome(lambda: encode_json(body))
    got = _outcome(lambda: encode_json(body, source))
    if isinstance(expected, str):
        assert got == expected  # the same refusal
    else:
        assert isinstance(got, bytes)
        assert json.loads(got) == json.loads(expected)


def test_few_non_ascii_characters_are_escaped() -> None:
    decoded, source = _received(
        json.dumps(
            {"input": "A café prompt line — with words, and more words in it. " * 100},
            ensure_ascii=False,
        )
    )
    assert source.escape_non_ascii()
    payload = encode_json(decoded, source)
    assert payload.isascii() and b"\\u00e9" in payload and b"\\u2014" in payload
    assert json.loads(payload) == decoded


def test_a_small_body_is_written_as_without_a_source() -> None:
    decoded, source = _received(json.dumps({"input": "café " * 100}, ensure_ascii=False))
    assert not source.escape_non_ascii()  # under `SPLICE_MIN_BYTES`: not worth choosing
    assert encode_json(decoded, source) == compact_encode(decoded).encode()


def test_mostly_non_ascii_text_stays_utf8() -> None:
    # Escaping would double the size of this text: the body is written as without a source.
    decoded, source = _received(json.dumps({"input": "中文提示詞 " * 200}, ensure_ascii=False))
    assert not source.escape_non_ascii()
    assert encode_json(decoded, source) == compact_encode(decoded).encode()


@pytest.mark.parametrize("spelled", ["\\ud800", "\\uDFFF", "\\ud83d\\ude00"])
def test_a_surrogate_escape_in_the_source_keeps_utf8(spelled: str) -> None:
    # A lone surrogate must stay refused, which only the UTF-8 encoding notices; any
    # `\uD800`-`\uDFFF` escape (a valid pair too) keeps the plain encoding.
    decoded, source = _received('{"input": "a ' + spelled + ' b"}')
    assert not source.escape_non_ascii()
    assert _outcome(lambda: encode_json(decoded, source)) == _outcome(lambda: encode_json(decoded))


def test_a_lone_surrogate_is_refused_as_without_a_source() -> None:
    decoded, source = _received('{"input": "\\ud800"}')
    with pytest.raises(InvalidRequestError, match="invalid Unicode escapes"):
        encode_json(decoded, source)


def test_out_of_range_numbers_and_nesting_are_refused_as_without_a_source() -> None:
    decoded, source = _received('{"input": "x", "t": 1e400}')
    with pytest.raises(InvalidRequestError, match="out of range"):
        encode_json(decoded, source)
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(InvalidRequestError, match="nested too deeply"):
        encode_json({"x": deep}, source)
