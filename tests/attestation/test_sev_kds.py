"""A VCEK from AMD KDS, only for a bundle without one; AMD's rate limit answered by backoff."""

from __future__ import annotations

import base64
import json

import pytest

from attestation.attestor import Attestor
from attestation.errors import AttestationError, Code, FetchError
from attestation.fetch import FetchResult
from attestation.policy import Policy
from attestation.sev import parse_report
from attestation.sev.kds import MAX_ATTEMPTS, MAX_DELAY, fetch_vcek, vcek_url
from attestation.trust import Trust
from tests.attestation.fakes import FakeFetcher
from tests.attestation.realdata import FIXED_NOW, real_bundle, real_bundle_bytes, report_of

RATE_LIMITED = FetchResult(429, {"retry-after": "2"}, b"")


def _vcek_der() -> bytes:
    return base64.b64decode(real_bundle()["vcek"])


class Sleeps:
    """Records requested waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class Sequence(FakeFetcher):
    """Answers the same URL with the next result of a list (the last one repeats)."""

    def __init__(self, *answers: FetchResult) -> None:
        super().__init__()
        self.answers = list(answers)

    def answer(self, url: str) -> FetchResult:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def test_vcek_url_names_chip_and_reported_tcb() -> None:
    report = parse_report(report_of(real_bundle()))
    url = vcek_url(report)
    tcb = report.reported_tcb
    assert url.startswith(f"https://kdsintf.amd.com/vcek/v1/Genoa/{report.chip_id.hex()}?")
    assert url.endswith(
        f"blSPL={tcb.bl_spl}&teeSPL={tcb.tee_spl}&snpSPL={tcb.snp_spl}&ucodeSPL={tcb.ucode_spl}"
    )


async def test_rate_limit_is_retried_with_bounded_backoff() -> None:
    fetcher = Sequence(RATE_LIMITED, FetchResult(429, {}, b""), FetchResult(200, {}, b"DER"))
    sleeps = Sleeps()
    assert await fetch_vcek(fetcher, parse_report(report_of(real_bundle())), sleep=sleeps) == b"DER"
    assert len(fetcher.urls) == 3
    assert sleeps.waits == [2.0, 2.0]  # Retry-After honoured, then the doubled default


async def test_rate_limit_gives_up_after_max_attempts() -> None:
    fetcher = Sequence(FetchResult(429, {"retry-after": "3600"}, b""))
    sleeps = Sleeps()
    with pytest.raises(FetchError) as err:
        await fetch_vcek(fetcher, parse_report(report_of(real_bundle())), sleep=sleeps)
    assert err.value.code is Code.FETCH_FAILED and "429" in err.value.message
    assert len(fetcher.urls) == MAX_ATTEMPTS
    assert sleeps.waits == [MAX_DELAY] * (MAX_ATTEMPTS - 1)  # a huge Retry-After is capped


async def test_other_errors_are_not_retried() -> None:
    fetcher = Sequence(FetchResult(404, {}, b""))
    sleeps = Sleeps()
    with pytest.raises(FetchError):
        await fetch_vcek(fetcher, parse_report(report_of(real_bundle())), sleep=sleeps)
    assert len(fetcher.urls) == 1 and sleeps.waits == []


def _attestor(fetcher: FakeFetcher) -> Attestor:
    return Attestor(
        fetcher, policy=Policy.production(), trust=Trust.production(), clock=lambda: FIXED_NOW
    )


async def test_bundle_without_vcek_gets_it_from_kds_and_verifies() -> None:
    bundle = real_bundle()
    bundle["vcek"] = ""
    url = vcek_url(parse_report(report_of(bundle)))
    fetcher = FakeFetcher({url: _vcek_der()})
    enclave = await _attestor(fetcher).verify(json.dumps(bundle).encode())
    assert fetcher.urls == [url]
    assert enclave.repository == "tinfoilsh/confidential-model-router"


async def test_kds_vcek_is_verified_like_a_bundled_one() -> None:
    bundle = real_bundle()
    bundle["vcek"] = ""
    url = vcek_url(parse_report(report_of(bundle)))
    fetcher = FakeFetcher({url: b"not a certificate"})
    with pytest.raises(AttestationError) as err:
        await _attestor(fetcher).verify(json.dumps(bundle).encode())
    assert err.value.code is Code.VCEK_CHAIN_INVALID


async def test_bundle_with_vcek_never_contacts_kds() -> None:
    fetcher = FakeFetcher()  # any GET fails the test
    await _attestor(fetcher).verify(real_bundle_bytes())
    assert fetcher.urls == []
