"""`V3Attestor` and `AutoAttestor` with a fake fetcher: fresh nonces, 404-only fallback."""

from __future__ import annotations

import re
from typing import Any

import pytest

from attestation.errors import AttestationError, Code, Step
from attestation.fetch import FetchResult
from attestation.models import VerifiedEnclave
from attestation.v3.attestor import AutoAttestor, V3Attestor
from tests.attestation.fakes import NOT_FOUND, FakeFetcher
from tests.attestation.v3.realdoc import (
    PINNED_TIME,
    REAL_NONCE,
    REPOSITORY,
    production_trust,
    real_bytes,
)

ENCLAVE = "https://inference.tinfoil.sh"
_URL = re.compile(
    r"https://inference\.tinfoil\.sh/\.well-known/tinfoil-attestation\?nonce=([0-9a-f]{64})"
)


def _attestor(fetcher: FakeFetcher) -> V3Attestor:
    return V3Attestor(
        fetcher,
        trust=production_trust(),
        repository=REPOSITORY,
        enclave_url=ENCLAVE,
        clock=lambda: PINNED_TIME,
    )


async def test_every_attestation_draws_a_fresh_nonce() -> None:
    fetcher = FakeFetcher(default=FetchResult(200, {}, real_bytes()))
    attestor = _attestor(fetcher)
    for _ in range(2):
        with pytest.raises(AttestationError) as info:
            await attestor.attest()  # the captured document answers another nonce
        assert (info.value.code, info.value.step) == (Code.V3_ENV_NONCE_MISMATCH, Step.PARSE)
    nonces = [m.group(1) for url in fetcher.urls if (m := _URL.fullmatch(url))]
    assert len(nonces) == 2 and nonces[0] != nonces[1]
    assert REAL_NONCE.hex() not in nonces


async def test_captured_document_verifies_for_its_own_nonce() -> None:
    fetcher = FakeFetcher(default=FetchResult(200, {}, real_bytes()))
    attestor = _attestor(fetcher)
    document = await attestor.fetch_document(REAL_NONCE)
    result = await attestor.verify(document, REAL_NONCE)
    assert result.attestation_format == "v3" and result.domain == "inference.tinfoil.sh"
    assert fetcher.urls == [f"{ENCLAVE}/.well-known/tinfoil-attestation?nonce={REAL_NONCE.hex()}"]


@pytest.mark.parametrize(
    ("answer", "code"),
    [(NOT_FOUND, Code.V3_FETCH_NOT_FOUND), (FetchResult(503, {}, b""), Code.V3_FETCH_HTTP_STATUS)],
)
async def test_http_failures_are_fetch_errors(answer: FetchResult, code: Code) -> None:
    with pytest.raises(AttestationError) as info:
        await _attestor(FakeFetcher(default=answer)).attest()
    assert (info.value.code, info.value.step) == (code, Step.FETCH)


class FakeV2:
    """Stands in for the v2 `Attestor`: counts fetches, returns a marker result."""

    def __init__(self) -> None:
        self.fetched: list[str] = []

    async def fetch_bundle(self, api_base: str) -> bytes:
        self.fetched.append(api_base)
        return b"bundle"

    async def verify(self, bundle: bytes, *, on_step: Any = None) -> VerifiedEnclave:
        assert bundle == b"bundle"
        raise AttestationError(Code.INTERNAL_ERROR, "v2 marker")


@pytest.mark.parametrize(
    ("answer", "falls_back"),
    [
        (NOT_FOUND, True),
        (FetchResult(200, {}, real_bytes()), False),  # a v3 rejection (nonce): never v2
        (FetchResult(500, {}, b""), False),  # the endpoint exists but failed: never v2
    ],
    ids=["404", "rejected", "500"],
)
async def test_auto_falls_back_only_on_404(answer: FetchResult, falls_back: bool) -> None:
    v2 = FakeV2()
    auto = AutoAttestor(
        v3=_attestor(FakeFetcher(default=answer)),
        v2=v2,
        api_base="https://api.ppq.ai",
    )
    with pytest.raises(AttestationError) as info:
        await auto.attest()
    assert (info.value.message == "v2 marker") is falls_back
    assert v2.fetched == (["https://api.ppq.ai"] if falls_back else [])
    assert auto.fallbacks == (1 if falls_back else 0)
