"""Interleaved A/B of the 5 MB request body: PASSTHRU and privproxy against one mock.

    .venv/bin/python -m tests.benchmarks.ab_big_body [--rounds 12] [--mb 5]

bench.py measures each target in its own time slot, so on two shared vCPUs a slot with more
background load moves one target's 5 MB time by +-40 %. Here one mock serves both proxies and
every round posts the same body through PASSTHRU, then through privproxy (unsafe-key mode),
so both see the same conditions; the first two rounds are warm-up. Prints the median and the
minimum end-to-end time of each and their ratio. Everything binds to 127.0.0.1 on free ports;
all three processes are stopped at the end. Needs ../shared (SHARED=...).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("SHARED", ROOT.parent / "shared"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_up(url: str) -> bytes:
    for _ in range(150):
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 (loopback)
                body: bytes = resp.read()
                return body
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"not up: {url}")


def _body(mb: float) -> bytes:
    # The shape bench.py posts: one image_url data URL of `mb` MiB.
    size = int(mb * 1024 * 1024)
    blob = "data:image/png;base64," + ("iVBORw0KGgo" * (size // 11 + 1))[:size]
    content = [{"type": "text", "text": "x"}, {"type": "image_url", "image_url": {"url": blob}}]
    body = {"model": "private/kimi-k2-5", "messages": [{"role": "user", "content": content}]}
    return json.dumps(body).encode()


async def _rounds(urls: dict[str, str], payload: bytes, rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in urls}
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}
    async with aiohttp.ClientSession() as session:
        for i in range(rounds + 2):
            for name, url in urls.items():
                started = time.perf_counter()
                async with session.post(url, data=payload, headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise SystemExit(f"{name} answered {resp.status}")
                if i >= 2:
                    times[name].append(time.perf_counter() - started)
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--mb", type=float, default=5.0)
    args = ap.parse_args()
    python = sys.executable
    bench = SHARED / "bench"
    if not (bench / "mock_gateway.py").is_file():
        raise SystemExit(f"{bench} not found (set SHARED=...)")
    mock_port, pt_port, ours_port = _free_port(), _free_port(), _free_port()
    mock_url = f"http://127.0.0.1:{mock_port}"
    quiet = subprocess.DEVNULL
    procs = [
        subprocess.Popen(
            [python, str(bench / "mock_gateway.py"), "--port", str(mock_port)],
            stdout=quiet,
            stderr=quiet,
        )
    ]
    try:
        key = json.loads(_wait_up(f"{mock_url}/health"))["public_key"]
        procs.append(
            subprocess.Popen(
                [
                    python,
                    str(bench / "passthru_proxy.py"),
                    "--port",
                    str(pt_port),
                    "--api-base",
                    mock_url,
                ],
                stdout=quiet,
                stderr=quiet,
            )
        )
        env = {**os.environ, "PPQ_API_KEY": "sk-bench"}
        ours_cmd = [python, "-m", "privproxy", "--port", str(ours_port), "--api-base", mock_url]
        procs.append(
            subprocess.Popen(
                [*ours_cmd, "--unsafe-hpke-key", key], cwd=ROOT, env=env, stdout=quiet, stderr=quiet
            )
        )
        urls = {
            "PASSTHRU": f"http://127.0.0.1:{pt_port}/v1/chat/completions",
            "OURS": f"http://127.0.0.1:{ours_port}/v1/chat/completions",
        }
        _wait_up(f"http://127.0.0.1:{pt_port}/health")
        _wait_up(f"http://127.0.0.1:{ours_port}/health")
        times = asyncio.run(_rounds(urls, _body(args.mb), args.rounds))
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    med = {name: statistics.median(t) * 1e3 for name, t in times.items()}
    low = {name: min(t) * 1e3 for name, t in times.items()}
    for name in times:
        print(f"{name:9} median {med[name]:6.1f} ms  min {low[name]:6.1f} ms")
    ratio_med = med["OURS"] / med["PASSTHRU"]
    print(f"OURS/PASSTHRU median {ratio_med:.2f}x, min {low['OURS'] / low['PASSTHRU']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
