"""`privproxy verify`: fetch the gateway's attestation bundle, verify it, print each step.

    privproxy verify [--api-base URL] [--json] [--amd-cert-chain FILE]... [--cache-dir DIR]
                     [--tdx-mr-seam-allow HEX]... [--sigstore-trust-root FILE]
    privproxy verify --v3 URL_OR_FILE [--nonce HEX] [--now ISO8601] [--json]

``--v3`` verifies a v3 attestation document instead: fetched from the enclave URL with a fresh
nonce (or ``--nonce``), or read from a captured file, which needs the ``--nonce`` it was
requested with. ``--now`` sets the verification time (both formats), to audit captured
evidence inside its validity window.

Exit codes: 0 verified, 10 attestation rejected (the evidence failed a check), 1 any other
error (network, trust-root configuration, internal). The AMD roots, the Sigstore root and the
TDX policy ship with the package. Nothing is sent anywhere except
``GET {api-base}/private/attestation``; for a TDX router Intel PCS collateral and the
hardware-measurements table; and AMD KDS only for a bundle that carries no VCEK.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from attestation.errors import AttestationError, FetchError, Step, TrustError
from attestation.models import StepResult, VerifiedEnclave
from attestation.sdk import verifiers
from privproxy.server.trust_flags import add_trust_flags, trust_values

EXIT_VERIFIED = 0
EXIT_ERROR = 1
EXIT_REJECTED = 10
DEFAULT_API_BASE = "https://api.ppq.ai"
_STEP_ORDER = (
    Step.FETCH,
    Step.PARSE,
    Step.HARDWARE,
    Step.PROVENANCE,
    Step.MEASUREMENT,
    Step.KEY_BINDING,
)
_V3_STEP_ORDER = (
    Step.FETCH,
    Step.PARSE,
    Step.PROVENANCE,
    Step.FRESHNESS,
    Step.ENDORSEMENT,
    Step.HARDWARE,
    Step.POLICY,
    Step.KEY_BINDING,
)


def build_parser() -> argparse.ArgumentParser:
    """Arguments of `privproxy verify`."""
    p = argparse.ArgumentParser(prog="privproxy verify", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--api-base", help=f"gateway base URL (env PPQ_API_BASE, default {DEFAULT_API_BASE})"
    )
    p.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    p.add_argument(
        "--amd-cert-chain",
        action="append",
        default=[],
        metavar="FILE",
        help="override a shipped AMD cert_chain PEM (ASK+ARK); must match the pinned "
        "fingerprints; repeatable (env PRIVPROXY_AMD_CERT_CHAIN, os.pathsep-separated)",
    )
    add_trust_flags(p)
    p.add_argument(
        "--cache-dir",
        type=Path,
        help="cache directory (env PRIVPROXY_CACHE_DIR, default $XDG_CACHE_HOME/privproxy)",
    )
    p.add_argument("--timeout", type=float, default=15.0, help="seconds per HTTP request")
    p.add_argument(
        "--v3",
        metavar="URL_OR_FILE",
        help="verify a v3 document: an enclave URL (fetched with a nonce) or a captured file",
    )
    p.add_argument("--nonce", metavar="HEX", help="v3: the 32-byte nonce (64 hex) to bind to")
    p.add_argument(
        "--repository",
        default=None,
        help="v3: code repository the enclave must run (default: the router)",
    )
    p.add_argument("--now", metavar="ISO8601", help="verification time (default: now)")
    return p


def enclave_json(enclave: VerifiedEnclave) -> dict[str, Any]:
    """JSON view of a verified enclave (no secrets: everything here is public evidence)."""
    return {
        "domain": enclave.domain,
        "platform": enclave.platform.value,
        "repository": enclave.repository,
        "release_digest": enclave.release_digest,
        "hardware_measurement": {
            "type": enclave.hardware_measurement.type,
            "registers": list(enclave.hardware_measurement.registers),
        },
        "code_measurement": {
            "type": enclave.code_measurement.type,
            "registers": list(enclave.code_measurement.registers),
        },
        "measurement_fingerprint": enclave.hardware_measurement.fingerprint(),
        "hpke_public_key": enclave.hpke_public_key_hex,
        "tls_key_fingerprint": enclave.tls_key_fingerprint,
        "tcb": enclave.tcb,
        "verified_at": enclave.verified_at.isoformat(),
        "verdicts": list(enclave.verifiers),
        "verifiers": verifiers(),
        "attestation_format": enclave.attestation_format,
        "freshness_expires_at": None
        if enclave.freshness_expires_at is None
        else enclave.freshness_expires_at.isoformat(),
    }


def _step_json(s: StepResult) -> dict[str, Any]:
    return {"step": s.step.value, "ok": s.ok, "detail": s.detail}


async def _run(args: argparse.Namespace, out: IO[str], steps: list[StepResult]) -> VerifiedEnclave:
    from attestation.attestor import Attestor
    from attestation.fetch import AiohttpFetcher
    from attestation.trust import amd_chain_files_from_env, user_cache_dir

    def record(result: StepResult) -> None:
        steps.append(result)
        if not args.json:
            out.write(f"PASS  {result.step.value:<12} {result.detail}\n")
            out.flush()

    api_base = args.api_base or os.environ.get("PPQ_API_BASE", "").strip() or DEFAULT_API_BASE
    env_cache = os.environ.get("PRIVPROXY_CACHE_DIR", "").strip()
    cache_dir = args.cache_dir or (Path(env_cache) if env_cache else user_cache_dir())
    files = [Path(f) for f in args.amd_cert_chain] + amd_chain_files_from_env()
    trust = trust_values(args)
    clock = _clock(args.now)
    if args.v3:
        return await _run_v3(args, cache_dir, files, clock, record, trust)
    async with AiohttpFetcher() as fetcher:
        attestor = Attestor.production(
            fetcher,
            cache_dir=cache_dir,
            amd_chain_files=files,
            timeout=args.timeout,
            sigstore_trust_root=trust.get("sigstore_trust_root"),
            tdx_mr_seam_allow=trust.get("tdx_mr_seam_allow", ()),
            clock=clock,
        )
        # sigstore's imports (~0.2 s) overlap the network round trip instead of following it.
        warm = asyncio.create_task(attestor.warm_up())
        try:
            bundle = await attestor.fetch_bundle(api_base)
            record(
                StepResult(
                    Step.FETCH, True, f"{len(bundle)} bytes from {api_base}/private/attestation"
                )
            )
            return await attestor.verify(bundle, on_step=record)
        finally:
            await warm  # never raises; its thread outlives any early exit anyway


class UsageError(Exception):
    """A flag value that cannot be used (exit 1, like any other non-verdict error)."""


def _clock(text: str | None) -> Callable[[], dt.datetime]:
    if text is None:
        return lambda: dt.datetime.now(dt.UTC)
    try:
        fixed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise UsageError(f"--now {text!r} is not an ISO 8601 time") from exc
    if fixed.tzinfo is None:
        fixed = fixed.replace(tzinfo=dt.UTC)
    return lambda: fixed


async def _run_v3(
    args: argparse.Namespace,
    cache_dir: Path,
    files: list[Path],
    clock: Callable[[], dt.datetime],
    record: Callable[[StepResult], None],
    trust_flags: dict[str, Any],
) -> VerifiedEnclave:
    from attestation.fetch import AiohttpFetcher
    from attestation.trust import Trust
    from attestation.v3 import new_nonce, parse_nonce
    from attestation.v3.attestor import DEFAULT_ENCLAVE_URL, V3Attestor
    from attestation.v3.fetch import enclave_host
    from privproxy.server.config import DEFAULT_V3_REPOSITORY

    try:
        nonce = parse_nonce(args.nonce) if args.nonce is not None else None
    except AttestationError as exc:
        raise UsageError(f"--nonce: {exc.message}") from exc
    source: str = args.v3
    is_url = source.startswith(("https://", "http://"))
    if not is_url and nonce is None:
        raise UsageError("a captured v3 document needs the --nonce it was requested with")
    del cache_dir  # v3 needs no cache: the document carries its collateral
    trust = Trust.production(
        amd_chain_files=files, sigstore_trust_root=trust_flags.get("sigstore_trust_root")
    )
    repository = args.repository or DEFAULT_V3_REPOSITORY
    async with AiohttpFetcher() as fetcher:
        attestor = V3Attestor(
            fetcher,
            trust=trust,
            repository=repository,
            enclave_url=source if is_url else DEFAULT_ENCLAVE_URL,
            clock=clock,
            timeout=args.timeout,
        )
        nonce = nonce if nonce is not None else new_nonce()
        if is_url:
            document = await attestor.fetch_document(nonce)
            where = f"{enclave_host(source)} (nonce {nonce.hex()[:16]}…)"
        else:
            try:
                document = Path(source).read_bytes()
            except OSError as exc:
                raise UsageError(f"cannot read {source}: {exc.strerror}") from exc
            where = source
        record(StepResult(Step.FETCH, True, f"{len(document)} bytes from {where}"))
        return await attestor.verify(document, nonce, on_step=record)


def _print_enclave(out: IO[str], enclave: VerifiedEnclave) -> None:
    out.write(
        f"VERIFIED {enclave.domain} ({enclave.platform.value})\n"
        f"  repository        {enclave.repository}\n"
        f"  release digest    {enclave.release_digest}\n"
        f"  measurement       {enclave.hardware_measurement.fingerprint()}\n"
        f"  HPKE public key   {enclave.hpke_public_key_hex}\n"
        f"  TLS key (sha256)  {enclave.tls_key_fingerprint}\n"
    )
    for verdict in enclave.verifiers:
        out.write(f"  verifier          {verdict}\n")
    for info in verifiers():
        version = info["version"] or "not installed"
        out.write(f"  uses              {info['name']} {version}: {info['verifies']}\n")
    if enclave.freshness_expires_at is not None:
        out.write(
            f"  format            v3, fresh until {enclave.freshness_expires_at.isoformat()}\n"
            f"  platform policy   {enclave.platform_policy}\n"
            "  GPU evidence      NOT verified (bound by hash only)\n"
        )


def main(argv: list[str] | None = None, *, stdout: IO[str] | None = None) -> int:
    """Run `privproxy verify`; returns the exit code."""
    out = sys.stdout if stdout is None else stdout
    args = build_parser().parse_args(argv)
    steps: list[StepResult] = []
    try:
        enclave = asyncio.run(_run(args, out, steps))
    except AttestationError as exc:
        code = EXIT_ERROR if isinstance(exc, FetchError | TrustError) else EXIT_REJECTED
        if args.json:
            doc = {
                "verified": False,
                "steps": [
                    *map(_step_json, steps),
                    {"step": exc.step.value, "ok": False, "detail": exc.message},
                ],
                "error": {"step": exc.step.value, "code": exc.code.value, "message": exc.message},
            }
            out.write(json.dumps(doc, indent=2) + "\n")
        else:
            out.write(f"FAIL  {exc.step.value:<12} {exc.code.value}: {exc.message}\n")
            done = {s.step for s in steps} | {exc.step}
            for step in _V3_STEP_ORDER if args.v3 else _STEP_ORDER:
                if step not in done and step is not Step.TRUST:
                    out.write(f"SKIP  {step.value}\n")
            out.write("NOT VERIFIED: no request may be sealed to this enclave.\n")
        return code
    except UsageError as exc:
        out.write(f"ERROR {exc}\n")
        return EXIT_ERROR
    except Exception as exc:  # CLI boundary: anything unexpected is exit 1, with a one-line reason
        out.write(f"ERROR internal: {type(exc).__name__}: {exc}\n")
        return EXIT_ERROR
    if args.json:
        doc = {
            "verified": True,
            "steps": [_step_json(s) for s in steps],
            "enclave": enclave_json(enclave),
        }
        out.write(json.dumps(doc, indent=2) + "\n")
    else:
        _print_enclave(out, enclave)
    return EXIT_VERIFIED


__all__ = ["build_parser", "enclave_json", "main"]
