"""Proxy CPU per request: an Anthropic Messages request vs the equivalent chat request.

    .venv/bin/python -m tests.benchmarks.bench_messages_cpu [--rounds 4] [--requests 1000]

The same three processes as `bench_agent_apis` (whose fake-gateway process and request loop
it reuses): the project's fake EHBP gateway, privproxy in unsafe-key mode, this process as
the client. Blocks of chat and Messages requests alternate, the order flipping every round;
the proxy's CPU (user + sys from /proc/<pid>/stat) is divided by the requests made.
Scenarios: a small whole answer; a stream of 20 content chunks sent at once; the same stream
paced (chunks 2 ms apart, as a model sends them, so each is read and written on its own).
Prints every round, the medians and the ratio (the target is <= 1.3x). Needs nothing outside
the repository.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import aiohttp

from tests.benchmarks.bench_agent_apis import (
    CONCURRENCY,
    MODEL,
    PACED,
    _block,
    _cpu_seconds,
    bench_stack,
    report,
)

SCENARIOS = ("small", "stream", "stream-paced")


def _bodies(scenario: str) -> tuple[bytes, bytes]:
    """(chat body, Messages body) asking for the same thing."""
    prompt = [{"role": "user", "content": "Say hi"}]
    # The chat body is what the Messages request is translated into (same sealed payload).
    chat: dict[str, Any] = {"model": MODEL, "messages": prompt, "max_tokens": 1024}
    messages: dict[str, Any] = {"model": MODEL, "max_tokens": 1024, "messages": prompt}
    if scenario != "small":
        chat |= {"stream": True, "stream_options": {"include_usage": True}}
        messages["stream"] = True
    if scenario.endswith("paced"):  # the marker travels sealed, as a sampling setting
        chat["temperature"] = messages["temperature"] = PACED
    return json.dumps(chat).encode(), json.dumps(messages).encode()


async def _measure(proxy: str, pid: int, args: argparse.Namespace) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
        for scenario in args.scenario or SCENARIOS:
            chat, messages = _bodies(scenario)
            targets = {
                f"{scenario} chat": (f"{proxy}/v1/chat/completions", chat),
                f"{scenario} messages": (f"{proxy}/v1/messages", messages),
            }
            for url, body in targets.values():  # warm-up
                await _block(session, url, body, args.requests // 4)
            for r in range(args.rounds):
                order = list(targets.items())
                if r % 2:
                    order.reverse()
                for name, (url, body) in order:
                    before = _cpu_seconds(pid)
                    await _block(session, url, body, args.requests)
                    us = (_cpu_seconds(pid) - before) / args.requests * 1e6
                    results.setdefault(name, []).append(us)
                    print(f"round {r + 1} {name:24} {us:8.1f} us/request", flush=True)
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--requests", type=int, default=1000, help="requests per block")
    ap.add_argument("--scenario", action="append", choices=SCENARIOS, help="repeatable")
    args = ap.parse_args()
    with bench_stack() as (url, pid):
        results = asyncio.run(_measure(url, pid, args))
    report(results, args.scenario or SCENARIOS, "messages")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
