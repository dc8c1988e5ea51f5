"""Proxy CPU per request: an Anthropic Messages request vs the equivalent chat request.

    .venv/bin/python -m tests.benchmarks.bench_messages_cpu [--rounds 4] [--requests 1000]

The same three processes as `bench_agent_apis` (whose fake-gateway process and request loop
it reuses): the project's fake EHBP gateway, privproxy in unsafe-key mode, this process as
the client. Blocks of chat and Messages requests alternate, the order flipping every round;
the proxy's CPU (user + sys from /proc/<pid>/stat) is divided by the requests made.
Scenarios: a small whole answer; a stream of 20 content chunks sent at once; the same stream
paced (chunks 2 ms apart, as a model sends them, so each is read and written on its own); a
Claude-Code-sized stream, burst and paced (a ~45 KB request shaped like Claude Code's: a 17 KB
system prompt in text blocks, 15 described tools, a `<system-reminder>` block).
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
    client_json,
    prose,
    report,
)

SCENARIOS = ("small", "stream", "stream-paced", "claude", "claude-paced")


def _claude_tools() -> list[dict[str, Any]]:
    # Claude Code's tool list: ~15 client tools with long descriptions and small schemas.
    tools = []
    for i in range(15):
        schema = {
            "type": "object",
            "properties": {
                "command": {"type": "string", "description": prose(120, i)},
                "timeout": {"type": "number", "description": "Optional timeout in ms"},
                "path": {"type": "string", "description": "The absolute path to the file"},
            },
            "required": ["command"],
            "additionalProperties": False,
            "$schema": "http://json-schema.org/draft-07/schema#",
        }
        description = prose(2400 if i < 3 else 500, i)
        tools.append({"name": f"Tool{i}", "description": description, "input_schema": schema})
    return tools


def _claude_request() -> dict[str, Any]:
    """A request shaped like Claude Code's (~45 KB): a system prompt of text blocks with
    `cache_control`, ~15 tools, a user turn with a `<system-reminder>` block and the prompt."""
    ephemeral = {"type": "ephemeral"}
    reminder = f"<system-reminder>\n{prose(2500, 4)}\n</system-reminder>\n"
    return {
        "model": MODEL,
        "max_tokens": 32000,
        "system": [
            {
                "type": "text",
                "text": "You are Claude Code, a CLI for coding.",
                "cache_control": ephemeral,
            },
            {"type": "text", "text": prose(17000, 1), "cache_control": ephemeral},
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": reminder},
                    {"type": "text", "text": "Say hi", "cache_control": ephemeral},
                ],
            }
        ],
        "tools": _claude_tools(),
        "metadata": {"user_id": "user_4f1c0e_account__session_9b2d7a61-55c3-4d0e-b1f2"},
        "stream": True,
    }


def _bodies(scenario: str) -> tuple[bytes, bytes]:
    """(chat body, Messages body) asking for the same thing."""
    if scenario.startswith("claude"):
        request = _claude_request()
        if scenario.endswith("paced"):
            request["temperature"] = PACED
        from privproxy.api.translate.messages_request import to_chat

        translated = to_chat(json.loads(client_json(request)), reasoning=False).body
        return client_json(translated), client_json(request)
    prompt = [{"role": "user", "content": "Say hi"}]
    # The chat body is what the Messages request is translated into (same sealed payload).
    chat: dict[str, Any] = {"model": MODEL, "messages": prompt, "max_tokens": 1024}
    messages: dict[str, Any] = {"model": MODEL, "max_tokens": 1024, "messages": prompt}
    if scenario != "small":
        chat |= {"stream": True, "stream_options": {"include_usage": True}}
        messages["stream"] = True
    if scenario.endswith("paced"):  # the marker travels sealed, as a sampling setting
        chat["temperature"] = messages["temperature"] = PACED
    return client_json(chat), client_json(messages)


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
