"""Fetch a VCEK from AMD's key distribution service, only for a bundle that carries none.

PPQ bundles carry their VCEK, so production normally never calls this. When one does not,
the certificate for the report's chip and REPORTED_TCB is at
``https://kdsintf.amd.com/vcek/v1/{product}/{hwid}?blSPL=…&teeSPL=…&snpSPL=…&ucodeSPL=…``
(Turin: 8-byte hwid and an extra ``fmcSPL``), DER. Whatever arrives is verified like a
bundled VCEK (chain to the pinned ASK/ARK, TCB and HWID against the report), so KDS is not
trusted.

AMD rate-limits KDS and answers HTTP 429 when a client asks too often. That is answered by
a bounded backoff: at most :data:`MAX_ATTEMPTS` requests, waits doubling from
:data:`FIRST_DELAY` and honouring a numeric ``Retry-After`` up to :data:`MAX_DELAY`; then
FETCH_FAILED. The sleep is injected so tests never wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final

from attestation.errors import Code, FetchError
from attestation.fetch import Fetcher
from attestation.sev.abi import Product, SevReport

KDS_VCEK_BASE: Final = "https://kdsintf.amd.com/vcek/v1"
MAX_VCEK_BYTES: Final = 16 * 1024  # a VCEK is ~1.4 KiB of DER
MAX_ATTEMPTS: Final = 4
FIRST_DELAY: Final = 1.0
MAX_DELAY: Final = 10.0
TOO_MANY_REQUESTS: Final = 429

Sleep = Callable[[float], Awaitable[None]]


def vcek_url(report: SevReport) -> str:
    """The KDS URL of the VCEK for ``report``'s chip and REPORTED_TCB."""
    tcb = report.reported_tcb
    if report.product is Product.TURIN:
        hwid = report.chip_id[:8].hex()
        query = (
            f"fmcSPL={tcb.fmc_spl}&blSPL={tcb.bl_spl}&teeSPL={tcb.tee_spl}"
            f"&snpSPL={tcb.snp_spl}&ucodeSPL={tcb.ucode_spl}"
        )
    else:
        hwid = report.chip_id.hex()
        query = (
            f"blSPL={tcb.bl_spl}&teeSPL={tcb.tee_spl}&snpSPL={tcb.snp_spl}&ucodeSPL={tcb.ucode_spl}"
        )
    return f"{KDS_VCEK_BASE}/{report.product.value}/{hwid}?{query}"


def _retry_after(value: str | None, fallback: float) -> float:
    """A numeric ``Retry-After`` (seconds) capped at MAX_DELAY; anything else: ``fallback``."""
    if value is not None and value.strip().isdigit():
        return min(float(value.strip()), MAX_DELAY)
    return min(fallback, MAX_DELAY)


async def fetch_vcek(
    fetcher: Fetcher,
    report: SevReport,
    *,
    timeout: float = 10.0,
    sleep: Sleep = asyncio.sleep,
) -> bytes:
    """The VCEK DER for ``report`` from KDS; FETCH_FAILED on any other answer than 200."""
    url = vcek_url(report)
    delay = FIRST_DELAY
    for attempt in range(1, MAX_ATTEMPTS + 1):
        result = await fetcher.get(url, max_bytes=MAX_VCEK_BYTES, timeout=timeout)
        if result.status == 200:
            return result.body
        if result.status != TOO_MANY_REQUESTS or attempt == MAX_ATTEMPTS:
            break
        await sleep(_retry_after(result.headers.get("retry-after"), delay))
        delay *= 2
    raise FetchError(
        Code.FETCH_FAILED,
        f"AMD KDS answered HTTP {result.status} for the VCEK after {attempt} attempt(s)",
    )


__all__ = ["KDS_VCEK_BASE", "MAX_ATTEMPTS", "MAX_DELAY", "fetch_vcek", "vcek_url"]
