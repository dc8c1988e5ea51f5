"""Exact signed-span extraction from PCS JSON (docs/attestation.md V3.3 step 3)."""

from __future__ import annotations

import pytest

from attestation.errors import Code, HardwareError
from attestation.tdx.collateral import split_signed, top_level_spans

SIG = "ab" * 64


def test_span_is_the_exact_text_including_odd_spacing() -> None:
    inner = '{ "a" : "}{\\"" ,"b":[1, {"c":2}] }'
    text = f'\n {{ "tcbInfo" :{inner} , "signature": "{SIG}" }}\n'
    doc = split_signed(text, "tcbInfo", "TCB Info")
    assert doc.signed_bytes == inner.encode()
    assert doc.body == {"a": '}{"', "b": [1, {"c": 2}]}
    assert doc.signature == bytes.fromhex(SIG)


@pytest.mark.parametrize(
    "text",
    [
        f'{{"tcbInfo":{{}},"tcbInfo":{{}},"signature":"{SIG}"}}',  # duplicate member
        f'{{"tcbInfo":{{}},"signature":"{SIG}"}} trailing',
        f'{{"tcbInfo":{{}},"signature":"{SIG}","extra":1}}',
        '{"tcbInfo":{},"signature":"abcd"}',  # short signature
        f'{{"tcbInfo":[],"signature":"{SIG}"}}',
        "[]",
        '{"tcbInfo":{}',
    ],
)
def test_malformed_envelopes(text: str) -> None:
    with pytest.raises(HardwareError) as err:
        split_signed(text, "tcbInfo", "TCB Info")
    assert err.value.code is Code.BUNDLE_MALFORMED


def test_spans_of_an_empty_object() -> None:
    assert top_level_spans(" {} ") == {}
