"""The `model` splice of `privproxy.server.receive`: same validity and meaning as a full re-encode.

Differential tests against the stdlib decoder (what the proxy used before the splice): every
text is accepted or refused exactly as `_DECODER.decode` does, and the spliced bytes decode
to the re-encoded object, key order included. Random bodies and random mutations come from a
fixed seed, so a failure is reproducible.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from privproxy.jsoncodec import _ENCODER
from privproxy.server.json_members import parse_members
from privproxy.server.receive import _DECODER, _model_span, _splice_model

WS = [" ", "\t", "\n", "\r", "", "", "", "  \n "]


def _dump(value: Any, rng: random.Random) -> str:
    """JSON text of `value` with random whitespace between all tokens."""

    def ws() -> str:
        return rng.choice(WS)

    if isinstance(value, dict):
        if not value:
            return "{" + ws() + "}"
        members = [
            ws() + json.dumps(k, ensure_ascii=rng.random() < 0.3) + ws() + ":" + ws()
            + _dump(v, rng) + ws()
            for k, v in value.items()
        ]  # fmt: skip
        return "{" + ",".join(members) + "}"
    if isinstance(value, list):
        return "[" + ",".join(ws() + _dump(v, rng) + ws() for v in value) + "]" if value else "[]"
    return json.dumps(value, ensure_ascii=rng.random() < 0.3)


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([0, -1, 2**60 + 1, 1.5, -2.25e-7, 1e300])
    if kind in (2, 3, 4):
        return "".join(rng.choice('ab "\\/\n\té✓💡{}[],:') for _ in range(rng.randrange(6)))
    if kind in (5, 6):
        return {f"k{i}{rng.choice(['', 'é', '💡'])}": _random_value(rng, depth + 1)
                for i in range(rng.randrange(4))}  # fmt: skip
    return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]


def _random_body(rng: random.Random) -> dict[str, Any]:
    body: dict[str, Any] = {}
    keys = [f"f{i}" for i in range(rng.randrange(5))]
    position = rng.randrange(len(keys) + 2)  # == len(keys) + 1: no model at all
    for i, key in enumerate([*keys, None]):
        if i == position:
            body["model"] = rng.choice(["private/kimi-k3", "kimi-k3", "", None, "ünï"])
        if key is not None:
            body[key] = _random_value(rng)
    return body


def _rewrite(text: str, new_model: str) -> bytes | None:
    """The splice as `receive` runs it, or None when it would fall back to re-encoding."""
    members = parse_members(text)
    assert members is not None
    if not members.unique:
        return None
    raw = bytearray(text.encode())
    _splice_model(raw, text, _model_span(members), _ENCODER.encode(new_model))
    return bytes(raw)


def _reencoded(text: str, new_model: str) -> dict[str, Any]:
    body = _DECODER.decode(text)
    body["model"] = new_model
    out: dict[str, Any] = json.loads(_ENCODER.encode(body))
    return out


@pytest.mark.parametrize("seed", range(8))
def test_splice_equals_reencode_on_random_bodies(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(150):
        text = rng.choice(WS) + _dump(_random_body(rng), rng) + rng.choice(WS)
        spliced = _rewrite(text, "kimi-k3")
        assert spliced is not None
        got = json.loads(spliced)
        expected = _reencoded(text, "kimi-k3")
        assert got == expected
        assert list(got) == list(expected)  # key order, `model` appended when absent


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"model":"private/x","a":1}', b'{"model":"x","a":1}'),
        ('{ "a" : 1 , "model" : "private/x" }', b'{ "a" : 1 , "model" : "x" }'),
        ("{}", b'{"model":"x"}'),
        (" { \n } ", b' { \n "model":"x"} '),
        ('{"a":{"model":"nested"}}', b'{"a":{"model":"nested"},"model":"x"}'),
        ('{"é✓":"💡","model":null}', '{"é✓":"💡","model":"x"}'.encode()),
        ('{"a":"\\"model\\":1","model":7}', b'{"a":"\\"model\\":1","model":"x"}'),
    ],
)
def test_splice_examples(text: str, expected: bytes) -> None:
    assert _rewrite(text, "x") == expected


def test_duplicate_top_level_keys_are_not_spliced() -> None:
    # The re-encode path collapses duplicates the way the proxy reads them (last wins).
    for text in ('{"model":"a","model":"b"}', '{"a":1,"model":"m","a":2}'):
        assert _rewrite(text, "x") is None
    assert _rewrite('{"a":{"b":1,"b":2},"model":"m"}', "x") is not None  # nested: kept as sent


INVALID = [
    "",
    " ",
    "{",
    "}",
    '{"a"}',
    '{"a":}',
    '{"a":1,}',
    '{"a":1 "b":2}',
    '{,"a":1}',
    "{'a':1}",
    '{"a":1}}',
    '{"a":1} x',
    '{"a":NaN}',
    '{"a":-Infinity}',
    '{"a":[1,]}',
    '{"a":"\x01"}',
    '{"a":"\\x"}',
    '{"a":01}',
    '{"a" 1}',
    '{"a":1}{}',
    "\ufeff{}",
    '{"a":tru}',
    "[1,2]",
    "null",
    '"s"',
    "1",
]


@pytest.mark.parametrize("text", INVALID, ids=repr)
def test_validity_matches_the_decoder(text: str) -> None:
    try:
        decoded: Any = _DECODER.decode(text)
    except ValueError:
        with pytest.raises(ValueError):
            parse_members(text)
        return
    parsed = parse_members(text)
    if isinstance(decoded, dict):
        assert parsed is not None and parsed.value == decoded
    else:
        assert parsed is None


@pytest.mark.parametrize("seed", range(4))
def test_validity_matches_the_decoder_on_mutations(seed: int) -> None:
    rng = random.Random(1000 + seed)
    alphabet = '{}[],:" \\0123456789.eE+-truefalsn\x01'
    for _ in range(300):
        chars = list(_dump(_random_body(rng), rng))
        for _ in range(rng.randrange(1, 3)):
            i = rng.randrange(len(chars) + 1)
            if rng.random() < 0.5 and i < len(chars):
                del chars[i]
            else:
                chars.insert(i, rng.choice(alphabet))
        text = "".join(chars)
        try:
            decoded: Any = _DECODER.decode(text)
        except ValueError:
            with pytest.raises(ValueError):
                parse_members(text)
            continue
        except RecursionError:
            continue
        parsed = parse_members(text)
        if isinstance(decoded, dict):
            assert parsed is not None and parsed.value == decoded
            assert list(parsed.value) == list(decoded)
        else:
            assert parsed is None


@pytest.mark.parametrize(
    "value",
    [
        {"model": "kimi-k2-5", "messages": [{"role": "user", "content": 'héllo \u2028 "q"'}]},
        {"a": [1, 2.5, -0.0, 1e300, True, False, None], "b": {"c": {"d": []}}, "e": {}},
        {"emoji": "\U0001f600", "ctrl": "\x00\x1f\n", "big": 10**40},
    ],
)
def test_built_once_encoder_matches_the_stdlib(value: object) -> None:
    # The C encoder built once must write exactly what json.dumps writes (compact, UTF-8).
    from privproxy.server import receive

    expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    assert receive._encode(value) == expected
    with pytest.raises(ValueError):
        receive._encode({"x": float("inf")})
