"""Injectable time: one object gives wall time, monotonic time and sleeping.

The attestation lifecycle schedules on the monotonic clock (immune to wall-clock jumps)
and shows wall time to people. Tests pass a manual clock whose `sleep` returns when the
test advances time, so hours of re-attestation run in milliseconds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Protocol


class Clock(Protocol):
    """Wall time, monotonic time and a sleep that honours the same time base."""

    def now(self) -> dt.datetime:
        """Current wall time, timezone-aware (UTC)."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""

    async def sleep(self, seconds: float) -> None:
        """Return after `seconds` on this clock's monotonic time base."""


class SystemClock:
    """The real clock: `datetime.now(UTC)`, `time.monotonic`, `asyncio.sleep`."""

    def now(self) -> dt.datetime:
        """Current UTC time."""
        return dt.datetime.now(dt.UTC)

    def monotonic(self) -> float:
        """`time.monotonic()`."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """`asyncio.sleep(seconds)`."""
        await asyncio.sleep(seconds)


__all__ = ["Clock", "SystemClock"]
