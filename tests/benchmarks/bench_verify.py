"""Benchmark attestation verification (run by hand; not a pytest test).

    .venv/bin/python tests/benchmarks/bench_verify.py [--runs 30] [--cli-runs 5]

Measures, on the real Genoa bundle from ../shared:

1. ``verify_bundle`` warm (trust built once, one verification before timing): median and
   best of ``--runs``. Target: <= 10 ms.
2. ``privproxy verify`` end to end (process start to exit) against a local aiohttp server on
   127.0.0.1 serving the bundle at ``/private/attestation``; AMD chain from ../shared via
   ``--amd-cert-chain``; cache in a temporary directory. Median of ``--cli-runs``.
   Target: <= 1.0 s. Start-up imports can be inspected with
   ``python -X importtime -m privproxy verify ...``.

Numbers depend on machine load; run on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
BUNDLE = SHARED / "fixtures" / "attestation" / "sev" / "real_genoa_bundle.json"
GENOA = SHARED / "fixtures" / "trust" / "amd" / "Genoa_cert_chain.pem"


def bench_verify_bundle(runs: int) -> list[float]:
    """Seconds per warm ``verify_bundle`` call."""
    from attestation import Policy, Trust, verify_bundle

    data = BUNDLE.read_bytes()
    trust = Trust.production(amd_chain_files=[GENOA])
    policy = Policy.production()
    now = dt.datetime.now(dt.UTC)
    verify_bundle(data, policy=policy, trust=trust, now=now)  # warm: imports, sigstore verifier
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        verify_bundle(data, policy=policy, trust=trust, now=now)
        times.append(time.perf_counter() - start)
    return times


def _serve(port_holder: list[int], ready: threading.Event, stop: threading.Event) -> None:
    import asyncio

    from aiohttp import web

    body = BUNDLE.read_bytes()

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/private/attestation", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_holder.append(int(runner.addresses[0][1]))
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await runner.cleanup()

    asyncio.run(main())


def bench_cli(runs: int) -> list[float]:
    """Wall seconds of ``python -m privproxy verify`` against a local server."""
    port: list[int] = []
    ready, stop = threading.Event(), threading.Event()
    thread = threading.Thread(target=_serve, args=(port, ready, stop), daemon=True)
    thread.start()
    ready.wait(10)
    times = []
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, XDG_CACHE_HOME=cache)
        env.pop("PRIVPROXY_AMD_CERT_CHAIN", None)
        cmd = [
            sys.executable,
            "-m",
            "privproxy",
            "verify",
            "--api-base",
            f"http://127.0.0.1:{port[0]}",
            "--amd-cert-chain",
            str(GENOA),
        ]
        for _ in range(runs):
            start = time.perf_counter()
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            times.append(time.perf_counter() - start)
            if proc.returncode != 0:
                raise SystemExit(
                    f"privproxy verify failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
                )
    stop.set()
    thread.join(5)
    return times


def main() -> int:
    """Run both benchmarks and print a summary; exit 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--cli-runs", type=int, default=5)
    args = parser.parse_args()
    if not BUNDLE.exists():
        print(f"missing {BUNDLE}", file=sys.stderr)
        return 2
    warm = bench_verify_bundle(args.runs)
    cli = bench_cli(args.cli_runs)
    med_warm, med_cli = statistics.median(warm), statistics.median(cli)
    best_warm = min(warm) * 1e3
    print(f"verify_bundle warm: median {med_warm * 1e3:.2f} ms, best {best_warm:.2f} ms (<= 10 ms)")
    print(f"privproxy verify  : median {med_cli:.3f} s, best {min(cli):.3f} s (target <= 1.0 s)")
    print(f"load average      : {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
    return 0 if med_warm <= 0.010 and med_cli <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
