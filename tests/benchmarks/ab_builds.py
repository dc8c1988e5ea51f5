"""Interleaved A/B of two privproxy builds: CPU per small request and per streamed event.

    git archive <base-commit> | tar -x -C /tmp/base
    .venv/bin/python -m tests.benchmarks.ab_builds /tmp/base . [--rounds 8] [--seconds 3]

`ab_cpu_per_request.py` compares privproxy with PASSTHRU; this compares two trees of privproxy
itself (each started with its tree first on `sys.path`) against one mock, with wrk alternating
between them and the order flipped every round, so background load hits both. Small requests
run at `-c64`; streams of 200 events (`"mock": {"chunks": 200}`) at `-c16`, CPU divided by the
events relayed. Proxy CPU comes from /proc/<pid>/stat. Needs wrk and ../shared (SHARED=...).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.benchmarks.ab_big_body import SHARED, _free_port, _wait_up
from tests.benchmarks.ab_cpu_per_request import _cpu_seconds

_SMALL = '{"model":"private/kimi-k2-5","messages":[{"role":"user","content":"Say hi"}]}'
_STREAM_EVENTS = 200
_STREAM = (
    '{"model":"private/kimi-k2-5","messages":[{"role":"user","content":"Say hi"}],'
    f'"stream":true,"mock":{{"chunks":{_STREAM_EVENTS},"chunk_size":16}}}}'
)


def _lua(body: str) -> str:
    return (
        f"wrk.method = \"POST\"\nwrk.body = '{body}'\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("base", type=Path, help="tree of the baseline build")
    ap.add_argument("new", type=Path, help="tree of the build under test")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--seconds", type=int, default=3)
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found (apt-get install -y wrk)")
    bench = SHARED / "bench"
    if not (bench / "mock_gateway.py").is_file():
        raise SystemExit(f"{bench} not found (set SHARED=...)")
    quiet = subprocess.DEVNULL
    mock_port = _free_port()
    mock_url = f"http://127.0.0.1:{mock_port}"
    mock_cmd = [sys.executable, str(bench / "mock_gateway.py"), "--port", str(mock_port)]
    procs = [subprocess.Popen(mock_cmd, stdout=quiet, stderr=quiet)]
    # (build, kind) → CPU microseconds per request or per event, one value per round.
    cpu: dict[tuple[str, str], list[float]] = {}
    loads = (("request", _SMALL, 64, 1), ("event", _STREAM, 16, _STREAM_EVENTS + 2))
    with tempfile.TemporaryDirectory() as tmp:
        scripts = {}
        for kind, body, _, _ in loads:
            scripts[kind] = Path(tmp) / f"{kind}.lua"
            scripts[kind].write_text(_lua(body))
        try:
            key = json.loads(_wait_up(f"{mock_url}/health"))["public_key"]
            targets: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
            for name, tree in (("BASE", args.base), ("NEW", args.new)):
                port = _free_port()
                tree = tree.resolve()
                env = {**os.environ, "PPQ_API_KEY": "sk-bench", "PYTHONPATH": str(tree)}
                env["HOME"] = tmp  # nothing of the user's state is read or written
                cmd = [sys.executable, "-m", "privproxy", "--port", str(port)]
                cmd += ["--api-base", mock_url, "--unsafe-hpke-key", key]
                proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=quiet, stderr=quiet)
                procs.append(proc)
                targets[name] = (proc, port)
                _wait_up(f"http://127.0.0.1:{port}/health")
            for rnd in range(args.rounds):
                order = list(targets.items())
                if rnd % 2:
                    order.reverse()
                for kind, _, conns, per in loads:
                    for name, (proc, port) in order:
                        url = f"http://127.0.0.1:{port}/v1/chat/completions"
                        wrk = ["wrk", "-t1", f"-c{conns}", f"-d{args.seconds}s"]
                        wrk += ["-s", str(scripts[kind]), url]
                        before = _cpu_seconds(proc.pid)
                        run = subprocess.run(wrk, capture_output=True, text=True, check=True)
                        match = re.search(r"(\d+) requests in", run.stdout)
                        if match is None or "Non-2xx" in run.stdout:
                            raise SystemExit(f"{name}: wrk failed:\n{run.stdout}")
                        used = _cpu_seconds(proc.pid) - before
                        cpu.setdefault((name, kind), []).append(used / (int(match[1]) * per) * 1e6)
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()
    for kind, *_ in loads:
        for name in ("BASE", "NEW"):
            values = cpu[(name, kind)]
            rounds = " / ".join(f"{v:.1f}" for v in values)
            median = statistics.median(values)
            print(f"{name:4} {kind:7} median {median:7.1f} us  ({rounds})")
        ratio = statistics.median(cpu[("NEW", kind)]) / statistics.median(cpu[("BASE", kind)])
        print(f"NEW/BASE per {kind}: {ratio:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
