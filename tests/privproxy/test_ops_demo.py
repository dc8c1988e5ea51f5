"""`privproxy demo --log-format json` shows the operations features end to end."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from tests.privproxy.test_e2e_simulated import _free_port


async def test_demo_json_logs_tour(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(
        HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "s"), XDG_CACHE_HOME=str(tmp_path / "c")
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "privproxy", "demo", "--port", str(port), "--log-format", "json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(60):
            while not any("is ready on" in line for line in lines):
                line = (await proc.stdout.readline()).decode()
                assert line, f"demo exited early: {lines}"
                lines.append(line)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    records = [json.loads(x) for x in [*lines, *rest.decode().splitlines()] if x.strip()]
    assert all(r["simulated"] is True for r in records)
    messages = [r["message"] for r in records]
    assert any("probes /health/liveness 200, /health/readiness 200" in m for m in messages)
    assert any("7 confidential models" in m for m in messages)
    assert any("X-Request-Id demo-tour-1" in m for m in messages)
    refused = [m for m in messages if "web_search_options was refused" in m]
    assert refused and "400 router_option_not_allowed" in refused[0]
    access = {r["request_id"]: r for r in records if r["logger"] == "privproxy.access"}
    chat = access["demo-tour-1"]
    assert chat["status"] == 200 and chat["model"] == "private/kimi-k3"
    assert any(r["status"] == 400 and r["route"] == "/v1/chat/completions" for r in access.values())
    assert "Hello" not in "".join(str(r) for r in access.values())  # the prompt is not logged
    assert not any(tmp_path.iterdir())
