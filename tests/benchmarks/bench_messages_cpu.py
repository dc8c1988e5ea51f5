"""Proxy CPU per request: `/v1/messages` against the equivalent `/v1/chat/completions`.

    .venv/bin/python -m tests.benchmarks.bench_messages_cpu [--requests 1200] [--rounds 4]
        [--chunks 20] [--chunk-size 16]

One shared mock gateway (EHBP required) serves one proxy (unsafe key mode, the mock's key);
this process sends the requests (8 at a time) from another process, so the proxy's own CPU
(/proc/<pid>/stat, user + sys) is what is measured. Four kinds interleave in each round, the
order flipping every round: chat and Messages, whole and streamed (the mock streams
`--chunks` content chunks, then a finish chunk, a usage chunk and `[DONE]`). Prints each
round and the median CPU per request with the Messages/chat ratio. Needs ../shared
(SHARED=...); everything binds to 127.0.0.1 and is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import aiohttp

from tests.benchmarks.ab_big_body import SHARED, _free_port, _wait_up

MODEL = "private/kimi-k2-5"
PROMPT = [{"role": "user", "content": "Say hi"}]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _request(base: str, kind: str, stream: bool, mock: dict[str, int]) -> tuple[str, bytes]:
    body: dict[str, object] = {"model": MODEL, "messages": PROMPT, "stream": stream, "mock": mock}
    if kind == "chat":
        return f"{base}/v1/chat/completions", json.dumps(body).encode()
    return f"{base}/v1/messages", json.dumps({**body, "max_tokens": 256}).encode()


async def _load(session: aiohttp.ClientSession, url: str, data: bytes, n: int) -> None:
    gate = asyncio.Semaphore(8)

    async def one() -> None:
        async with gate:
            headers = {"Content-Type": "application/json"}
            async with session.post(url, data=data, headers=headers) as resp:
                if resp.status != 200:
                    raise SystemExit(f"{url}: {resp.status} {await resp.text()}")
                await resp.read()

    await asyncio.gather(*(one() for _ in range(n)))


async def _measure(base: str, pid: int, args: argparse.Namespace) -> dict[str, list[float]]:
    mock = {"chunks": args.chunks, "chunk_size": args.chunk_size}
    kinds = [("chat", False), ("messages", False), ("chat", True), ("messages", True)]
    cpu: dict[str, list[float]] = {f"{k}{'-stream' if s else ''}": [] for k, s in kinds}
    async with aiohttp.ClientSession() as session:
        for kind, stream in kinds:  # warm-up
            await _load(session, *_request(base, kind, stream, mock), 50)
        for round_no in range(args.rounds):
            order = kinds if round_no % 2 == 0 else kinds[::-1]
            for kind, stream in order:
                before = _cpu_seconds(pid)
                await _load(session, *_request(base, kind, stream, mock), args.requests)
                per_request = (_cpu_seconds(pid) - before) / args.requests * 1e6
                cpu[f"{kind}{'-stream' if stream else ''}"].append(per_request)
    return cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1200)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--chunks", type=int, default=20)
    ap.add_argument("--chunk-size", type=int, default=16)
    args = ap.parse_args()
    script = SHARED / "bench" / "mock_gateway.py"
    if not script.is_file():
        raise SystemExit(f"{script} not found (set SHARED=...)")
    quiet = subprocess.DEVNULL
    mock_port, proxy_port = _free_port(), _free_port()
    mock_url = f"http://127.0.0.1:{mock_port}"
    mock_cmd = [sys.executable, str(script), "--port", str(mock_port), "--ehbp", "require"]
    procs = [subprocess.Popen(mock_cmd, stdout=quiet, stderr=quiet)]
    try:
        key = json.loads(_wait_up(f"{mock_url}/health"))["public_key"]
        with tempfile.TemporaryDirectory() as tmp:
            proxy_cmd = [
                sys.executable, "-m", "privproxy", "--port", str(proxy_port),
                "--api-base", mock_url, "--unsafe-hpke-key", key,
                "--state-dir", f"{tmp}/state", "--cache-dir", f"{tmp}/cache",
            ]  # fmt: skip
            env = {**os.environ, "PPQ_API_KEY": "sk-bench-0123456789"}
            proxy = subprocess.Popen(proxy_cmd, env=env, stdout=quiet, stderr=quiet)
            procs.append(proxy)
            base = f"http://127.0.0.1:{proxy_port}"
            _wait_up(f"{base}/health")
            cpu = asyncio.run(_measure(base, proxy.pid, args))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
    for name, values in cpu.items():
        print(f"{name:<16} us/request per round: {' '.join(f'{v:.0f}' for v in values)}")
    for suffix in ("", "-stream"):
        chat, messages = (statistics.median(cpu[k + suffix]) for k in ("chat", "messages"))
        print(
            f"median{suffix or ' whole'}: chat {chat:.0f} us, messages {messages:.0f} us, "
            f"ratio {messages / chat:.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
