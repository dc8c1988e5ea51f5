"""`AttestedProvider`: the attestation lifecycle behind every sealed request.

The Node proxy verified once before listening and died if that failed (docs/protocol.md §1.1,
1.2); it re-verified only after a 422 key-config answer (3.6). This provider instead:

* starts at once and verifies in the background, retrying with bounded, jittered
  exponential backoff (`start` returns immediately, so health checks see the server);
* re-verifies periodically (`reattest_interval`, jittered +-10 %), after a 422
  (`refresh`), and when the last verification is older than `attestation_max_age`;
* runs at most one verification at a time: every trigger joins the one in flight;
* serves chat only from a verified, fresh target (`current`); otherwise it raises
  `AttestationUnavailableError` whose message names the failing step;
* drops the key the moment a bundle stops verifying (fail closed), while a mere fetch
  failure keeps the still-fresh verified key until it expires;
* logs one line per outcome, with old -> new fingerprints when key or measurement change,
  and appends accepted verifications to the audit log.

`EnclaveTarget` is immutable, so a stream that started on one key finishes on it even if
the provider adopts another key meanwhile.

State machine (`AttestationState`)::

    unverified --ok--> verified --(re-check starts)--> refreshing --ok--> verified
        |                 |                                 |
        +--reject/fetch-> failed <------- reject -----------+
                          verified --(max age passes)--> expired --ok--> verified
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from attestation.errors import AttestationError, Code, FetchError
from attestation.models import VerifiedEnclave
from privproxy.enclave.provider import EnclaveTarget
from privproxy.enclave.status import (
    AttestationState,
    AttestationStatus,
    LastError,
    MeasurementChange,
    ProviderStats,
)
from privproxy.errors import AttestationUnavailableError
from privproxy.server.clock import Clock, SystemClock

if TYPE_CHECKING:
    from privproxy.enclave.audit import AuditSink
    from privproxy.server.config import Settings

log = logging.getLogger("privproxy.attestation")

BACKOFF_BASE = 1.0  # seconds before the first retry (Node waited 1 s once, docs/protocol.md §1.1)
BACKOFF_MAX = 300.0  # retries never wait longer than this (or than the re-attest interval)
INTERVAL_JITTER = 0.1  # periodic re-checks spread +-10 % so many proxies do not align
CURRENT_WAIT = 10.0  # a request waits at most this long for a verification in flight
VERIFY_TIMEOUT = 120.0  # one whole fetch + verify attempt; bounds every wait
# v3: re-verify this long before the freshness deadline (or halfway there, if sooner), so a
# fresh document is adopted before the old one's witnesses expire.
FRESHNESS_REFRESH_LEAD = 3600.0


class Verifier(Protocol):
    """What the provider needs from `attestation.Attestor` (structural, for injection)."""

    async def fetch_bundle(self, api_base: str) -> bytes:
        """GET `{api_base}/private/attestation`; raises `FetchError`."""

    async def verify(self, bundle: bytes) -> VerifiedEnclave:
        """Verify every step; raises `AttestationError` naming the failing step."""


@runtime_checkable
class SelfAttesting(Protocol):
    """A verifier that fetches and verifies in one step (v3: the nonce binds the two)."""

    async def attest(self) -> VerifiedEnclave:
        """Fetch fresh evidence and verify it; raises `AttestationError` naming the step."""


@dataclass(frozen=True, slots=True)
class _Adopted:
    """The verified target in use and when it stops being fresh (monotonic seconds)."""

    target: EnclaveTarget
    verification: VerifiedEnclave
    verified_mono: float
    expires_mono: float


class AttestedProvider:
    """`EnclaveProvider` backed by a verified attestation; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        *,
        attestor: Verifier | SelfAttesting | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        audit: AuditSink | None = None,
    ) -> None:
        self._settings = settings
        self._clock: Clock = clock if clock is not None else SystemClock()
        # Jitter only spreads load; it is not a secret, so a plain PRNG is right here.
        self._rng = rng if rng is not None else random.Random()  # noqa: S311
        self._attestor: Verifier | SelfAttesting | None = attestor
        self._fetcher: Any = None  # the default attestor's fetcher, closed by `close`
        self._audit: AuditSink = audit if audit is not None else _default_audit(settings)
        self._adopted: _Adopted | None = None
        self._previous: VerifiedEnclave | None = None  # last accepted, even if dropped since
        self._generation = 0
        self._last_error: LastError | None = None
        self._last_check: dt.datetime | None = None
        self._change: MeasurementChange | None = None
        self._failures = 0  # consecutive failed attempts, for backoff
        self._last_attempt_mono = float("-inf")  # when the last attempt started
        self._inflight: asyncio.Task[EnclaveTarget] | None = None
        self._next_check_mono = self._clock.monotonic()
        self._reschedule = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self.stats = ProviderStats()

    # -- EnclaveProvider --------------------------------------------------------------

    async def start(self) -> None:
        """Schedule the first verification now and return at once."""
        if self._loop_task is None:
            self._next_check_mono = self._clock.monotonic()
            self._loop_task = asyncio.get_running_loop().create_task(
                self._run(), name="privproxy-attestation"
            )

    async def close(self) -> None:
        """Stop the background loop and any verification in flight."""
        for task in (self._loop_task, self._inflight):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._loop_task = None
        if self._fetcher is not None:  # we built the attestor: release its session
            await self._fetcher.close()
            self._fetcher = None
            self._attestor = None

    async def current(self) -> EnclaveTarget:
        """The verified, fresh target; waits briefly for a verification already running."""
        adopted = self._fresh()
        if adopted is not None:
            return adopted.target
        expired = self._adopted
        if expired is not None and self._inflight is None:
            if self._last_attempt_mono < expired.expires_mono:
                # Expired and not re-tried since: this request triggers the check ("on
                # expiry"). Later requests leave retries to the loop's backoff, so a burst
                # of chat requests never turns into a burst of bundle fetches.
                self._start_verification("expired")
        inflight = self._inflight
        if inflight is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(inflight), CURRENT_WAIT)
            adopted = self._fresh()
            if adopted is not None:
                return adopted.target
        raise AttestationUnavailableError(self.unavailable_reason())

    async def refresh(self, stale: EnclaveTarget) -> EnclaveTarget:
        """Re-verify after the enclave rejected `stale`'s key (422, docs/protocol.md §3.6)."""
        adopted = self._fresh()
        if adopted is not None and adopted.target.generation > stale.generation:
            return adopted.target  # someone already re-verified since `stale` was handed out
        try:
            return await self._shared("key_config")
        except AttestationError as exc:
            raise AttestationUnavailableError(
                f"re-attestation after a key-config rejection failed: {exc.diagnostics()}"
            ) from exc

    def health(self) -> dict[str, Any]:
        """Fields merged into `/health` (Node shape plus lifecycle details)."""
        status = self.status()
        verification = status.verification
        return {
            "attestation": status.serving,
            "unsafe": False,
            "state": status.state.value,
            "verified_at": _iso(status.verified_at),
            "expires_at": _iso(status.expires_at),
            "enclave": verification.domain if verification else None,
            "hpke_key_fingerprint": verification.hpke_key_fingerprint if verification else None,
            "attestation_format": verification.attestation_format if verification else None,
            "freshness_expires_at": _iso(verification.freshness_expires_at)
            if verification
            else None,
        }

    # -- introspection ----------------------------------------------------------------

    def status(self) -> AttestationStatus:
        """An immutable snapshot for /v1/verification, /readyz, the status page, metrics."""
        adopted = self._adopted
        now_mono = self._clock.monotonic()
        verification = adopted.verification if adopted else None
        verified_at = verification.verified_at if verification else None
        expires_at = None
        if verification is not None and verified_at is not None:
            expires_at = verified_at + _seconds(self._settings.attestation_max_age)
            deadline = verification.freshness_expires_at
            if deadline is not None:
                expires_at = min(expires_at, deadline)
        next_in = max(0.0, self._next_check_mono - now_mono)
        return AttestationStatus(
            state=self.state(),
            target=adopted.target if adopted else None,
            verification=verification,
            verified_at=verified_at,
            expires_at=expires_at,
            last_check_at=self._last_check,
            next_check_at=None
            if self._loop_task is None
            else self._clock.now() + _seconds(next_in),
            last_error=self._last_error,
            in_progress=self._inflight is not None,
            measurement_change=self._change,
            age_seconds=None if adopted is None else now_mono - adopted.verified_mono,
        )

    def state(self) -> AttestationState:
        """Where the lifecycle is now (see the module docstring)."""
        adopted = self._adopted
        if adopted is None:
            return AttestationState.FAILED if self._last_error else AttestationState.UNVERIFIED
        if self._clock.monotonic() >= adopted.expires_mono:
            return AttestationState.EXPIRED
        return AttestationState.REFRESHING if self._inflight else AttestationState.VERIFIED

    def unavailable_reason(self) -> str:
        """Why chat is refused now, naming the failing step when there is one."""
        state = self.state()
        err = self._last_error
        detail = f" Last attempt: {err.describe()}" if err else ""
        if state is AttestationState.UNVERIFIED:
            return "enclave attestation is not verified yet (first verification in progress)."
        if state is AttestationState.EXPIRED and self._adopted is not None:
            at = _iso(self._adopted.verification.verified_at)
            return f"enclave attestation from {at} expired; re-verification pending.{detail}"
        if err is not None:
            return f"enclave attestation unavailable: {err.describe()}"
        return "enclave attestation unavailable."

    # -- verification -----------------------------------------------------------------

    def _fresh(self) -> _Adopted | None:
        adopted = self._adopted
        if adopted is not None and self._clock.monotonic() < adopted.expires_mono:
            return adopted
        return None

    def _start_verification(self, trigger: str) -> asyncio.Task[EnclaveTarget]:
        """Start a verification unless one runs; either way return the shared task."""
        if self._inflight is None:
            task = asyncio.get_running_loop().create_task(
                self._attempt(trigger), name=f"privproxy-attest-{trigger}"
            )
            self._inflight = task
            task.add_done_callback(self._clear_inflight)
        return self._inflight

    def _clear_inflight(self, task: asyncio.Task[EnclaveTarget]) -> None:
        if self._inflight is task:
            self._inflight = None
        if not task.cancelled():
            task.exception()  # mark retrieved: callers that gave up must not warn at exit

    async def _shared(self, trigger: str) -> EnclaveTarget:
        """Join (or start) the single verification in flight and return its target."""
        return await asyncio.shield(self._start_verification(trigger))

    async def _attempt(self, trigger: str) -> EnclaveTarget:
        """One fetch + verify; adopt on success, record and re-raise on failure."""
        self._last_attempt_mono = self._clock.monotonic()
        try:
            async with asyncio.timeout(VERIFY_TIMEOUT):
                verifier = self._verifier()
                if isinstance(verifier, SelfAttesting):
                    verification = await verifier.attest()
                else:
                    bundle = await verifier.fetch_bundle(self._settings.api_base)
                    verification = await verifier.verify(bundle)
        except asyncio.CancelledError:
            raise
        except AttestationError as exc:
            self._on_failure(trigger, exc)
            raise
        except TimeoutError as exc:
            err: AttestationError = FetchError(
                Code.FETCH_FAILED, f"no verdict within {VERIFY_TIMEOUT:.0f} s"
            )
            self._on_failure(trigger, err)
            raise err from exc
        except Exception as exc:  # a bug or library failure: fail closed, report, keep running
            err = _internal(exc)
            log.debug("attestation internal error", exc_info=True)
            self._on_failure(trigger, err)
            raise err from exc
        return await self._adopt(trigger, verification)

    def _verifier(self) -> Verifier | SelfAttesting:
        if self._attestor is None:
            self._attestor, self._fetcher = _default_attestor(self._settings, self._clock)
        return self._attestor

    async def _adopt(self, trigger: str, verification: VerifiedEnclave) -> EnclaveTarget:
        previous = self._previous
        self._generation += 1
        target = EnclaveTarget(
            domain=verification.domain,
            hpke_public_key=verification.hpke_public_key,
            verification=verification,
            generation=self._generation,
        )
        now_mono = self._clock.monotonic()
        lifetime = self._lifetime(verification)
        self._adopted = _Adopted(target, verification, now_mono, now_mono + lifetime)
        self._previous = verification
        self._last_error = None
        self._last_check = self._clock.now()
        self._failures = 0
        self.stats.count(trigger, "success")
        next_check = self._jittered(self._settings.reattest_interval)
        if verification.freshness_expires_at is not None:
            ahead = max(lifetime - FRESHNESS_REFRESH_LEAD, lifetime / 2.0)
            next_check = min(next_check, ahead)
        self._schedule(next_check)
        old_fp = _measurement_fp(previous) if previous is not None else None
        entry = await self._audit.append(verification, at=self._last_check)
        if old_fp is None:
            old_fp = entry.previous_measurement  # survives restarts via the audit log
        new_fp = _measurement_fp(verification)
        changed = old_fp is not None and old_fp != new_fp
        rotated = previous is not None and previous.hpke_public_key != verification.hpke_public_key
        if changed and old_fp is not None:
            self._change = MeasurementChange(at=self._last_check, old=old_fp, new=new_fp)
            self.stats.measurement_changes += 1
        if rotated:
            self.stats.key_rotations += 1
        line = _success_line(trigger, verification, previous, old_fp if changed else None)
        log.info("%s (valid for %.0f s)", line, lifetime)
        return target

    def _lifetime(self, verification: VerifiedEnclave) -> float:
        """Seconds a verification may serve: max age, and for v3 never past its deadline."""
        lifetime = self._settings.attestation_max_age
        deadline = verification.freshness_expires_at
        if deadline is not None:
            lifetime = min(lifetime, max(0.0, (deadline - self._clock.now()).total_seconds()))
        return lifetime

    def _on_failure(self, trigger: str, err: AttestationError) -> None:
        self._failures += 1
        self._last_check = self._clock.now()
        self._last_error = LastError(
            step=err.step.value, code=err.code.value, message=err.message, at=self._last_check
        )
        fresh = self._fresh()
        transient = isinstance(err, FetchError)
        if not transient:
            # Fail closed: a bundle that stops verifying takes its key with it at once.
            self._adopted = None
        outcome = "fetch_failed" if transient else "rejected"
        if err.code.value == "INTERNAL_ERROR":
            outcome = "error"
        self.stats.count(trigger, outcome)
        delay = self._backoff()
        self._schedule(delay)
        keeping = ""
        if transient and fresh is not None:
            until = _iso(self.status().expires_at)
            keeping = f"; keeping the key verified at {_iso(fresh.verification.verified_at)} "
            keeping += f"until {until}"
        log.warning(
            "%s (trigger %s)%s; retrying in %.1f s", err.diagnostics(), trigger, keeping, delay
        )

    # -- scheduling -------------------------------------------------------------------

    def _jittered(self, seconds: float) -> float:
        return seconds * (1.0 + INTERVAL_JITTER * (2.0 * self._rng.random() - 1.0))

    def _backoff(self) -> float:
        cap = min(BACKOFF_MAX, self._settings.reattest_interval)
        delay = min(cap, BACKOFF_BASE * 2.0 ** min(self._failures - 1, 30))
        return delay / 2.0 + self._rng.random() * delay / 2.0  # "equal jitter"

    def _schedule(self, delay: float) -> None:
        now = self._clock.monotonic()
        due = now + delay
        adopted = self._adopted
        if adopted is not None and adopted.expires_mono > now:
            due = min(due, adopted.expires_mono)  # wake at expiry, not an interval later
        self._next_check_mono = due
        self._reschedule.set()

    async def _run(self) -> None:
        """Background loop: sleep until the next check is due, then verify (shared)."""
        while True:
            remaining = self._next_check_mono - self._clock.monotonic()
            if remaining > 0:
                self._reschedule.clear()
                await self._sleep_or_reschedule(remaining)
                continue
            trigger = "startup" if self.stats.attempts == 0 else "periodic"
            if self._last_error is not None and self._failures > 0:
                trigger = "retry"
            try:
                await self._shared(trigger)
            except AttestationError:
                pass  # recorded, logged and rescheduled by `_on_failure`
            except Exception:  # top of a background task: log a bug, never die silently
                log.exception("attestation loop error")
                self._failures += 1
                self._schedule(self._backoff())
            if self._next_check_mono <= self._clock.monotonic():
                self._schedule(self._backoff())  # a cancelled attempt must not spin

    async def _sleep_or_reschedule(self, seconds: float) -> None:
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        waker = asyncio.ensure_future(self._reschedule.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in (sleeper, waker):
                fut.cancel()
            await asyncio.gather(sleeper, waker, return_exceptions=True)


# -- helpers ------------------------------------------------------------------------------


def _seconds(value: float) -> dt.timedelta:
    return dt.timedelta(seconds=value)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _measurement_fp(verification: VerifiedEnclave) -> str:
    return verification.code_measurement.fingerprint()


def _internal(exc: BaseException) -> AttestationError:
    # Only the type name: a library message may quote evidence bytes or paths.
    return AttestationError(Code.INTERNAL_ERROR, f"unexpected {type(exc).__name__}")


def _success_line(
    trigger: str, new: VerifiedEnclave, old: VerifiedEnclave | None, changed_from: str | None
) -> str:
    code_fp = _measurement_fp(new)
    # The first part matches the Node proxy's line (docs/protocol.md §4.1, item 2).
    line = f"Attestation verified — enclave: {new.domain}, code fingerprint: {code_fp[:16]}..."
    line += f" ({new.platform.value}, release {new.release_digest[:16]}..., "
    line += f"hpke key {new.hpke_key_fingerprint[:16]}..., trigger {trigger})"
    if old is not None and old.hpke_public_key != new.hpke_public_key:
        line += f"; HPKE key rotated {old.hpke_key_fingerprint[:16]}... -> "
        line += f"{new.hpke_key_fingerprint[:16]}..."
    if changed_from is not None:
        line += f"; CODE MEASUREMENT CHANGED {changed_from[:16]}... -> {code_fp[:16]}..."
    if old is not None and old.domain != new.domain:
        line += f"; enclave moved {old.domain} -> {new.domain}"
    return line


def _default_audit(settings: Settings) -> AuditSink:
    from privproxy.enclave.audit import AuditLog

    return AuditLog.in_state_dir(settings.state_dir)


def _default_attestor(settings: Settings, clock: Clock) -> tuple[Verifier | SelfAttesting, Any]:
    """The production attestor for `settings.attestation` and its fetcher (imported lazily)."""
    from attestation.attestor import Attestor
    from attestation.fetch import AiohttpFetcher

    fetcher = AiohttpFetcher()
    # Production wiring: pinned AMD roots, production policy, and (for TDX routers)
    # Intel PCS collateral and the Sigstore-verified hardware-measurements table.
    attestor = Attestor.production(
        fetcher,
        cache_dir=settings.cache_dir,
        clock=clock.now,
        amd_chain_files=settings.amd_cert_chain,
        sigstore_trust_root=settings.sigstore_trust_root,
        tdx_mr_seam_allow=settings.tdx_mr_seam_allow,
    )
    if settings.attestation == "v2":
        return attestor, fetcher
    from attestation.v3.attestor import AutoAttestor, V3Attestor

    v3 = V3Attestor(
        fetcher,
        trust=attestor.trust,
        repository=settings.v3_repository,
        enclave_url=settings.v3_enclave_url,
        clock=clock.now,
    )
    if settings.attestation == "v3":
        return v3, fetcher
    return AutoAttestor(v3=v3, v2=attestor, api_base=settings.api_base), fetcher


__all__ = ["AttestedProvider", "SelfAttesting", "Verifier"]
