"""Proxy CPU per request: a Responses API request vs the equivalent chat completions request.

    .venv/bin/python -m tests.benchmarks.bench_agent_apis [--rounds 6] [--requests 400]

Three processes on 127.0.0.1: the project's fake EHBP gateway (tests/privproxy/fake_gateway.py,
which really opens every sealed request and seals its answers), privproxy in unsafe-key mode in
front of it, and this process as the client (aiohttp, 16 requests in flight). The proxy's CPU
(user + sys from /proc/<pid>/stat) is read around each block of requests and divided by the
requests made; blocks of the two APIs alternate, the order flipping every round, so background
load hits both. Scenarios: a small non-stream request; a small stream (20 content chunks); a
Codex-sized stream (a ~38 KB request shaped like Codex's, 20 chunks), each stream also paced.
Bodies are sent as agents send them (compact JSON, UTF-8), the Codex-sized one with prompt-like
text (`prose`: markdown with quotes, backslashes, newlines, a few non-ASCII characters), which
costs the JSON coders about twice what letters alone cost. Prints every round, the medians and
the ratio (the target is <= 1.3x). Needs nothing outside the repository.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.benchmarks.ab_big_body import ROOT, _free_port, _wait_up

CHUNKS = 20
CONCURRENCY = 16
MODEL = "private/kimi-k3"
SCENARIOS = ("small", "stream", "stream-paced", "codex", "codex-paced")
PACED = 0.25  # the temperature that asks the gateway to pace its stream


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the gateway process ---------------------------------------------------------------------


def _serve_gateway(port: int) -> None:
    from tests.privproxy.fake_gateway import (
        FakeGateway,
        Reply,
        Seen,
        chat_completion,
        chunk,
        json_reply,
        sse_reply,
    )

    gateway = FakeGateway()
    words = [f"word{i} " for i in range(CHUNKS)]
    usage = {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 20}}

    def reply(seen: Seen) -> Reply:
        if seen.body.get("stream"):
            events = [chunk(w, "kimi-k3") for w in words]
            events += [chunk("", "kimi-k3", finish="stop"), usage]
            out = sse_reply(events)
            if seen.body.get("temperature") == PACED:  # tokens 2 ms apart, as a model sends
                out.frame_delay = 0.002
        else:
            out = json_reply(chat_completion("".join(words), "kimi-k3"))
        out.split_writes = False
        return out

    gateway.reply = reply
    gateway.seen = _Forget()  # keep memory flat over many requests

    async def key(request: web.Request) -> web.Response:
        return web.Response(text=gateway.public_key.hex())

    gateway.app.router.add_get("/key", key)
    web.run_app(gateway.app, host="127.0.0.1", port=port, print=None, access_log=None)


class _Forget(list[Any]):
    def append(self, item: Any) -> None:
        pass


# -- requests ---------------------------------------------------------------------------------


# Prompt text as agents send it: markdown prose with quotes, backslashes, backticks, tabs,
# code and a few non-ASCII characters (each costs the JSON coders more than plain letters).
_PROSE = (
    "You are a coding agent running in a terminal-based coding assistant. You are expected to "
    "be precise, safe, and helpful.\n",
    "Your capabilities: receive user prompts and other context provided by the harness, such as "
    "files in the workspace; communicate with the user by streaming thinking & responses, and "
    "by making & updating plans; emit function calls to run terminal commands and apply "
    "patches.\n\n",
    "## How you work\n",
    '- Default to being concise: when the user asks for a "quick fix", make the smallest '
    "change that works — no drive-by refactors.\n",
    "- Use `rg` to search text and `rg --files` to list files; they are much faster than "
    "`grep -R` or `find`.\n",
    "- Before running a command, explain in one sentence what it does and why you run it.\n",
    "- Windows paths look like C:\\Users\\dev\\project; always quote them in shell commands.\n\n",
    '```sh\nrg -n "def main" src/ | head -20\n```\n',
    "When you finish, summarize the change in 2–3 bullet points; mention the tests you ran "
    "(e.g. `pytest -q`) and their result ✓.\n",
    "Never revert changes you did not make, and don’t add copyright headers unless asked.\n",
)


def prose(size: int, offset: int = 0) -> str:
    """`size` characters of agent-prompt-like text (deterministic; `offset` varies it)."""
    lines = _PROSE[offset % len(_PROSE) :] + _PROSE[: offset % len(_PROSE)]
    text = "".join(lines)
    return (text * (size // len(text) + 1))[:size]


def _codex_input() -> list[dict[str, Any]]:
    # The shape of a Codex request: a long developer prompt, context, a prompt.
    texts = [("developer", prose(17000)), ("developer", prose(8000, 3)), ("user", prose(400, 5))]
    texts.append(("user", "Say hi"))
    return [
        {"type": "message", "role": role, "content": [{"type": "input_text", "text": text}]}
        for role, text in texts
    ]


def _codex_tools() -> list[dict[str, Any]]:
    params = {
        "type": "object",
        "properties": {"cmd": {"type": "string", "description": prose(300, 2)}},
    }
    return [
        {
            "type": "function",
            "name": f"tool_{i}",
            "description": prose(600, i),
            "parameters": params,
        }
        for i in range(10)
    ] + [{"type": "web_search"}]


def _bodies(scenario: str) -> tuple[bytes, bytes]:
    """(chat body, Responses body) asking for the same thing."""
    stream = scenario != "small"
    responses: dict[str, Any] = {"model": MODEL, "input": "Say hi", "stream": stream}
    chat: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": "Say hi"}]}
    if scenario.endswith("paced"):  # the marker travels sealed, as a sampling setting
        responses["temperature"] = chat["temperature"] = PACED
    if scenario.startswith("codex"):
        responses["input"] = _codex_input()
        responses["tools"] = _codex_tools()
        responses["tool_choice"] = "auto"
        responses["parallel_tool_calls"] = True
        from privproxy.api.translate.responses_request import to_chat

        chat = to_chat(json.loads(client_json(responses))).chat
    elif stream:
        chat |= {"stream": True, "stream_options": {"include_usage": True}}
    return client_json(chat), client_json(responses)


def client_json(body: dict[str, Any]) -> bytes:
    """`body` as agents send it: compact JSON, non-ASCII as UTF-8 (not escaped)."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


async def _block(session: aiohttp.ClientSession, url: str, body: bytes, n: int) -> None:
    queue = iter(range(n))

    async def worker() -> None:
        for _ in queue:
            async with session.post(url, data=body) as resp:
                data = await resp.read()
                if resp.status != 200 or b"word19" not in data:
                    raise SystemExit(f"bad answer from {url}: {resp.status} {data[:200]!r}")

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def _measure(
    proxy: str, pid: int, rounds: int, n: int, scenarios: list[str]
) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
        for scenario in scenarios:
            chat, responses = _bodies(scenario)
            targets = {
                f"{scenario} chat": (f"{proxy}/v1/chat/completions", chat),
                f"{scenario} responses": (f"{proxy}/v1/responses", responses),
            }
            for url, body in targets.values():  # warm-up
                await _block(session, url, body, n // 4)
            for r in range(rounds):
                order = list(targets.items())
                if r % 2:
                    order.reverse()
                for name, (url, body) in order:
                    before = _cpu_seconds(pid)
                    await _block(session, url, body, n)
                    us = (_cpu_seconds(pid) - before) / n * 1e6
                    results.setdefault(name, []).append(us)
                    print(f"round {r + 1} {name:24} {us:8.1f} us/request", flush=True)
    return results


@contextlib.contextmanager
def bench_stack() -> Iterator[tuple[str, int]]:
    """The fake EHBP gateway (a process of this module) and privproxy in unsafe-key mode in
    front of it; yields (proxy URL, proxy pid) and stops both on exit."""
    python, quiet = sys.executable, subprocess.DEVNULL
    gw_port, proxy_port = _free_port(), _free_port()
    gateway = subprocess.Popen(
        [python, "-m", "tests.benchmarks.bench_agent_apis", "--serve-gateway", str(gw_port)],
        cwd=ROOT,
        stdout=quiet,
    )
    procs = [gateway]
    try:
        key = _wait_up(f"http://127.0.0.1:{gw_port}/key").decode()
        env = {**os.environ, "PPQ_API_KEY": "sk-bench-0123456789"}
        flags = ["--api-base", f"http://127.0.0.1:{gw_port}", "--unsafe-hpke-key", key]
        proxy = subprocess.Popen(
            [python, "-m", "privproxy", "--port", str(proxy_port), *flags],
            cwd=ROOT,
            env=env,
            stdout=quiet,
            stderr=quiet,
        )
        procs.append(proxy)
        _wait_up(f"http://127.0.0.1:{proxy_port}/health")
        time.sleep(0.5)
        yield f"http://127.0.0.1:{proxy_port}", proxy.pid
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)


def report(results: dict[str, list[float]], scenarios: Sequence[str], api: str) -> None:
    """Median CPU per request of each scenario, chat vs `api`, and the worst ratio."""
    print("\nmedian proxy CPU per request (us):")
    worst = 0.0
    for scenario in scenarios:
        chat = statistics.median(results[f"{scenario} chat"])
        translated = statistics.median(results[f"{scenario} {api}"])
        ratio = translated / chat
        worst = max(worst, ratio)
        print(f"  {scenario:12} chat {chat:7.1f}  {api} {translated:7.1f}  ratio {ratio:.2f}x")
    verdict = "met" if worst <= 1.3 else "NOT met"
    print(f"worst ratio {worst:.2f}x (target <= 1.3x: {verdict})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--requests", type=int, default=1000, help="requests per block")
    ap.add_argument("--scenario", action="append", choices=SCENARIOS, help="repeatable")
    ap.add_argument("--serve-gateway", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_gateway:
        _serve_gateway(args.serve_gateway)
        return 0
    scenarios = args.scenario or list(SCENARIOS)
    with bench_stack() as (url, pid):
        results = asyncio.run(_measure(url, pid, args.rounds, args.requests, scenarios))
    report(results, scenarios, "responses")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
