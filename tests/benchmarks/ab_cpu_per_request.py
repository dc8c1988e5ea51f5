"""Interleaved A/B of proxy CPU per small request: PASSTHRU and privproxy against one mock.

    .venv/bin/python -m tests.benchmarks.ab_cpu_per_request [--rounds 6] [--seconds 3]

bench.py measures each target in its own time slot; here one mock serves both proxies and
`wrk -c64` alternates between them (the order flips every round), so a burst of background
load hits both. Proxy CPU comes from /proc/<pid>/stat (user + sys) around each wrk run,
divided by the requests wrk completed. Prints every round and the medians. Needs wrk and
../shared (SHARED=...); everything binds to 127.0.0.1 and is stopped at the end.
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

from tests.benchmarks.ab_big_body import ROOT, SHARED, _free_port, _wait_up

_BODY = '{"model":"private/kimi-k2-5","messages":[{"role":"user","content":"Say hi"}]}'
_POST_LUA = f"""wrk.method = "POST"
wrk.body = '{_BODY}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
"""


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seconds", type=int, default=3)
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found (apt-get install -y wrk)")
    bench = SHARED / "bench"
    if not (bench / "mock_gateway.py").is_file():
        raise SystemExit(f"{bench} not found (set SHARED=...)")
    python = sys.executable
    quiet = subprocess.DEVNULL
    mock_port, pt_port, ours_port = _free_port(), _free_port(), _free_port()
    mock_url = f"http://127.0.0.1:{mock_port}"
    mock_cmd = [python, str(bench / "mock_gateway.py"), "--port", str(mock_port)]
    procs = [subprocess.Popen(mock_cmd, stdout=quiet, stderr=quiet)]
    cpu: dict[str, list[float]] = {"PASSTHRU": [], "OURS": []}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(_POST_LUA)
        try:
            key = json.loads(_wait_up(f"{mock_url}/health"))["public_key"]
            pt_cmd = [python, str(bench / "passthru_proxy.py"), "--port", str(pt_port)]
            pt = subprocess.Popen([*pt_cmd, "--api-base", mock_url], stdout=quiet, stderr=quiet)
            procs.append(pt)
            ours_cmd = [python, "-m", "privproxy", "--port", str(ours_port), "--api-base", mock_url]
            env = {**os.environ, "PPQ_API_KEY": "sk-bench"}
            ours = subprocess.Popen(
                [*ours_cmd, "--unsafe-hpke-key", key], cwd=ROOT, env=env, stdout=quiet, stderr=quiet
            )
            procs.append(ours)
            targets = {"PASSTHRU": (pt, pt_port), "OURS": (ours, ours_port)}
            for _, port in targets.values():
                _wait_up(f"http://127.0.0.1:{port}/health")
            for rnd in range(args.rounds):
                order = list(targets.items())
                if rnd % 2:
                    order.reverse()
                for name, (proc, port) in order:
                    url = f"http://127.0.0.1:{port}/v1/chat/completions"
                    wrk = ["wrk", "-t1", "-c64", f"-d{args.seconds}s", "-s", str(script), url]
                    before = _cpu_seconds(proc.pid)
                    out = subprocess.run(wrk, capture_output=True, text=True, check=True).stdout
                    match = re.search(r"(\d+) requests in", out)
                    if match is None or "Non-2xx" in out:
                        raise SystemExit(f"{name}: wrk failed:\n{out}")
                    cpu[name].append((_cpu_seconds(proc.pid) - before) / int(match[1]) * 1e6)
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()
    for name, values in cpu.items():
        rounds = " / ".join(f"{v:.0f}" for v in values)
        print(f"{name:9} median {statistics.median(values):5.0f} us per request  ({rounds})")
    ratio = statistics.median(cpu["OURS"]) / statistics.median(cpu["PASSTHRU"])
    print(f"OURS/PASSTHRU {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
