"""The provider with a v3 verifier: one call per verification, the freshness deadline obeyed."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest

from attestation.errors import Code, ProvenanceError, Step
from attestation.models import VerifiedEnclave
from privproxy.enclave.attested import FRESHNESS_REFRESH_LEAD, SelfAttesting
from privproxy.errors import AttestationUnavailableError
from tests.privproxy.lifecycle_fakes import (
    FakeVerifier,
    ManualClock,
    key_for,
    make_provider,
    settle,
)

DAY = 86400.0


class FakeV3Verifier(FakeVerifier):
    """Fetch-and-verify in one call, like `attestation.v3.attestor.V3Attestor`."""

    def __init__(self, clock: ManualClock, lifetime: dt.timedelta) -> None:
        super().__init__(clock)
        self.lifetime = lifetime
        self.attests = 0

    async def attest(self) -> VerifiedEnclave:
        self.attests += 1
        if self.fail is not None:
            raise self.fail
        now = self.clock.now()
        return replace(
            self.enclave,
            hpke_public_key=key_for(f"k{self.attests}"),
            verified_at=now,
            attestation_format="v3",
            freshness_expires_at=now + self.lifetime,
        )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


async def test_v3_key_expires_at_the_freshness_deadline_and_is_renewed_before(
    tmp_path: Path, clock: ManualClock
) -> None:
    verifier = FakeV3Verifier(clock, lifetime=dt.timedelta(hours=5))
    assert isinstance(verifier, SelfAttesting)
    provider = make_provider(
        tmp_path, clock, verifier, reattest_interval=DAY, attestation_max_age=7 * DAY
    )
    await provider.start()
    try:
        await settle()
        status = provider.status()
        first = status.verification
        assert first is not None and first.freshness_expires_at is not None
        assert status.expires_at == first.freshness_expires_at  # not verified_at + 7 days
        assert status.next_check_at is not None
        assert status.next_check_at <= first.freshness_expires_at - dt.timedelta(
            seconds=FRESHNESS_REFRESH_LEAD
        )
        assert verifier.fetches == 0 and verifier.verifies == 0  # never the v2 path
        await clock.advance_to_next()
        await settle()
        assert verifier.attests == 2
        renewed = provider.status().verification
        assert renewed is not None and renewed.verified_at < first.freshness_expires_at
        assert (await provider.current()).verification == renewed
    finally:
        await provider.close()


async def test_v3_stale_witness_stops_traffic_at_the_deadline(
    tmp_path: Path, clock: ManualClock
) -> None:
    verifier = FakeV3Verifier(clock, lifetime=dt.timedelta(hours=2))
    provider = make_provider(
        tmp_path, clock, verifier, reattest_interval=DAY, attestation_max_age=7 * DAY
    )
    await provider.start()
    try:
        await settle()
        assert (await provider.current()).verified
        verifier.fail = ProvenanceError(
            Code.V3_PROV_FRESHNESS_STALE, "witness too old", step=Step.FRESHNESS
        )
        await clock.advance(2 * 3600 + 1)
        await settle()
        with pytest.raises(AttestationUnavailableError) as info:
            await provider.current()
        assert "V3_PROV_FRESHNESS_STALE" in str(info.value)
        last_error = provider.status().last_error
        assert last_error is not None and last_error.step == "freshness"
    finally:
        await provider.close()
