"""`privproxy demo --log-format json` shows the operations features end to end."""

from __future__ import annotations

import json
from pathlib import Path

from tests.privproxy.demo_process import running_demo


async def test_demo_json_logs_tour(tmp_path: Path) -> None:
    async with running_demo(tmp_path, "--log-format", "json") as run:
        pass
    assert run.proc.returncode == 0
    records = [json.loads(x) for x in run.lines if x.strip()]
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
