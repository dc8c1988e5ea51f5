"""Benchmark attestation verification and start-up (run by hand; not a pytest test).

    .venv/bin/python tests/benchmarks/bench_verify.py [--runs 30] [--cli-runs 10]
        [--latency SECONDS] [--serve-runs 5] [--baseline DIR]

Measures, on the real Genoa bundle in tests/data:

1. ``verify_bundle`` warm (trust built once, one verification before timing): median and
   best of ``--runs``. Target: <= 10 ms.
2. ``privproxy verify`` end to end (process start to exit) against a local aiohttp server on
   127.0.0.1 serving the bundle at ``/private/attestation``; AMD chain from tests/data via
   ``--amd-cert-chain``; cache in a temporary directory. Median of ``--cli-runs``.
   Target: <= 1.0 s. ``--latency 0.3`` makes the server wait before answering, as a remote
   gateway would (the CLI overlaps sigstore's imports with that wait).
3. ``privproxy`` (serve) start-up in unsafe mode: process start until the "listening" line,
   then the resident set size after one idle second (target: <= 60 MB).

``--baseline DIR`` runs every process measurement also from another source tree (e.g.
``git archive HEAD | tar -x -C /tmp/base``), alternating run by run so both see the same load.
Start-up imports can be inspected with ``python -X importtime -m privproxy verify ...``.
Numbers depend on machine load; run on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "tests" / "data" / "attestation" / "sev" / "real_genoa_bundle.json"
GENOA = REPO / "tests" / "data" / "trust" / "amd" / "Genoa_cert_chain.pem"
UNSAFE_KEY = "11" * 32  # unsafe mode skips attestation: start-up cost of the proxy alone


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


class BundleServer:
    """A local gateway stand-in in a thread: the bundle at /private/attestation, after a delay."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.port = 0
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> BundleServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise SystemExit("bundle server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        import asyncio

        from aiohttp import web

        body = BUNDLE.read_bytes()

        async def handler(request: web.Request) -> web.Response:
            await asyncio.sleep(self.latency)
            return web.Response(body=body, content_type="application/json")

        async def main() -> None:
            app = web.Application()
            app.router.add_get("/private/attestation", handler)
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = int(runner.addresses[0][1])
            self._ready.set()
            while not self._stop.is_set():
                await asyncio.sleep(0.05)
            await runner.cleanup()

        asyncio.run(main())


def _env(tree: Path, home: str) -> dict[str, str]:
    env = dict(os.environ, HOME=home, XDG_CACHE_HOME=f"{home}/cache")
    env["XDG_STATE_HOME"] = f"{home}/state"
    env["PYTHONPATH"] = str(tree)
    for name in ("PRIVPROXY_AMD_CERT_CHAIN", "PPQ_API_KEY", "PRIVPROXY_TOKEN", "PORT"):
        env.pop(name, None)
    return env


def _alternate(
    trees: dict[str, Path], runs: int, measure: Callable[[Path, str], float]
) -> dict[str, list[float]]:
    """Run ``measure(tree, home)`` ``runs`` times per tree, alternating trees run by run."""
    results: dict[str, list[float]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as home:
        for _ in range(runs):
            for name, tree in trees.items():
                results[name].append(measure(tree, home))
    return results


def bench_cli(trees: dict[str, Path], runs: int, latency: float) -> dict[str, list[float]]:
    """Wall seconds of ``python -m privproxy verify`` against a local server."""
    with BundleServer(latency) as server:
        cmd = [sys.executable, "-m", "privproxy", "verify", "--api-base", server.url]
        cmd += ["--amd-cert-chain", str(GENOA)]

        def measure(tree: Path, home: str) -> float:
            start = time.perf_counter()
            proc = subprocess.run(
                cmd, cwd=tree, env=_env(tree, home), capture_output=True, text=True, check=False
            )
            elapsed = time.perf_counter() - start
            if proc.returncode != 0:
                raise SystemExit(
                    f"privproxy verify failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
                )
            return elapsed

        return _alternate(trees, runs, measure)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("no VmRSS")


def bench_serve(
    trees: dict[str, Path], runs: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """(seconds until listening, idle RSS in MB) of ``python -m privproxy`` in unsafe mode."""
    rss: dict[str, list[float]] = {name: [] for name in trees}
    names = {tree: name for name, tree in trees.items()}
    with BundleServer(0.0) as server:  # the catalog fetch goes here (and gets a 404)
        cmd = [sys.executable, "-m", "privproxy", "--port", "0", "--api-base", server.url]
        cmd += ["--unsafe-hpke-key", UNSAFE_KEY]

        def measure(tree: Path, home: str) -> float:
            start = time.perf_counter()
            proc = subprocess.Popen(
                cmd,
                cwd=tree,
                env=_env(tree, home),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            try:
                assert proc.stdout is not None
                for line in proc.stdout:
                    if "listening on" in line:
                        break
                else:
                    raise SystemExit(f"privproxy exited ({proc.wait()}) before listening")
                elapsed = time.perf_counter() - start
                time.sleep(1.0)
                rss[names[tree]].append(_rss_mb(proc.pid))
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(10)
            return elapsed

        return _alternate(trees, runs, measure), rss


def _line(label: str, values: list[float], unit: str, scale: float = 1.0) -> str:
    med, best, worst = statistics.median(values), min(values), max(values)
    return (
        f"{label:<34} median {med * scale:7.3f} {unit}, best {best * scale:7.3f}, "
        f"worst {worst * scale:7.3f} (n={len(values)})"
    )


def main() -> int:
    """Run the benchmarks and print a summary; exit 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--cli-runs", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.0, help="server delay, seconds")
    parser.add_argument("--serve-runs", type=int, default=5)
    parser.add_argument("--baseline", type=Path, help="another source tree to compare with")
    args = parser.parse_args()
    if not BUNDLE.exists():
        print(f"missing {BUNDLE}", file=sys.stderr)
        return 2
    trees = {"this tree": REPO}
    if args.baseline is not None:
        trees["baseline"] = args.baseline.resolve()
    warm = bench_verify_bundle(args.runs)
    print(_line("verify_bundle warm (<= 10 ms)", warm, "ms", 1e3))
    cli = bench_cli(trees, args.cli_runs, args.latency)
    for name, times in cli.items():
        print(_line(f"privproxy verify, {name} (<= 1 s)", times, "s"))
    if args.latency:
        print(f"  (server answers after {args.latency:g} s, included above)")
    ok = statistics.median(warm) <= 0.010 and statistics.median(cli["this tree"]) <= 1.0
    if args.serve_runs > 0:
        start, rss = bench_serve(trees, args.serve_runs)
        for name in trees:
            print(_line(f"privproxy serve start, {name}", start[name], "s"))
            print(_line(f"idle RSS (unsafe), {name} (<= 60)", rss[name], "MB"))
        ok = ok and max(rss["this tree"]) <= 60
    print(f"load average: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
