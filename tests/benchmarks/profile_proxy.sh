#!/usr/bin/env bash
# Profile privproxy under load with py-spy (sampling; the proxy is not modified).
#
# Usage: tests/benchmarks/profile_proxy.sh small|stream [SECONDS]
# Env:   PYTHON (default .venv/bin/python), SHARED (default ../shared), PYSPY (default `py-spy`;
#        install it in any venv: `pip install py-spy`, it is not a project dependency),
#        OUT (output directory, default a fresh temp dir).
# Starts ../shared/bench/mock_gateway.py --ehbp require and the proxy (unsafe-key mode) on free
# 127.0.0.1 ports, drives `small` non-streaming POSTs (wrk if installed, else bench.py's Python
# loop) or 64 concurrent 500-chunk streams, records collapsed stacks to $OUT/profile.txt and
# prints the top frames by self time. Stops both processes by PID.
set -euo pipefail
MODE="${1:-small}"; SECS="${2:-8}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
PYSPY="${PYSPY:-py-spy}"
OUT="${OUT:-$(mktemp -d -t privproxy-profile.XXXXXX)}"
command -v "$PYSPY" >/dev/null || { echo "py-spy not found (set PYSPY=/path/to/py-spy)" >&2; exit 2; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
get() { "$PYTHON" -c 'import sys,urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())' "$1"; }
wait_up() { for _ in $(seq 150); do get "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "not up: $1" >&2; exit 1; }

MP="$(free_port)"; PP="$(free_port)"
"$PYTHON" "$SHARED/bench/mock_gateway.py" --port "$MP" --ehbp require >"$OUT/mock.log" 2>&1 &
pids+=("$!"); wait_up "http://127.0.0.1:$MP/health"
KEY="$(get "http://127.0.0.1:$MP/health" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["public_key"])')"
(cd "$ROOT" && PPQ_API_KEY=sk-bench exec "$PYTHON" -m privproxy --port "$PP" \
    --api-base "http://127.0.0.1:$MP" --unsafe-hpke-key "$KEY") >"$OUT/proxy.log" 2>&1 &
PROXY=$!; pids+=("$PROXY"); wait_up "http://127.0.0.1:$PP/health"

URL="http://127.0.0.1:$PP/v1/chat/completions"
"$PYSPY" record -p "$PROXY" -d "$SECS" -r 250 -f raw -o "$OUT/profile.txt" >"$OUT/py-spy.log" 2>&1 &
SPY=$!
sleep 0.5
if [[ "$MODE" == small ]] && command -v wrk >/dev/null; then
    cat >"$OUT/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"model":"private/kimi-k2-5","messages":[{"role":"user","content":"Say hi in one word."}],"max_tokens":16}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
LUA
    wrk -t1 -c32 -d"${SECS}s" -s "$OUT/post.lua" "$URL" | grep -E "requests in|Non-2xx" || true
elif [[ "$MODE" == small ]]; then
    "$PYTHON" "$SHARED/bench/bench.py" --worker \
        "{\"kind\":\"closed\",\"url\":\"$URL\",\"concurrency\":32,\"duration\":$SECS}" | cut -c1-200
else
    "$PYTHON" "$SHARED/bench/bench.py" --worker \
        "{\"kind\":\"stream\",\"url\":\"$URL\",\"concurrency\":64,\"rounds\":3,\"chunks\":500,\"timeout\":120}" \
        | "$PYTHON" -c 'import json,sys; r=json.loads(sys.stdin.read()[7:]); print("streams ok", r["ok"], "/", r["streams"], "events", r["events"])'
fi
wait "$SPY" || true
"$PYTHON" - "$OUT/profile.txt" <<'PY'
import collections, sys
self_time, total = collections.Counter(), 0
for line in open(sys.argv[1]):
    stack, _, n = line.rstrip().rpartition(" ")
    if not stack:
        continue
    total += int(n)
    self_time[stack.split(";")[-1]] += int(n)
print(f"{total} samples; top frames by self time (C calls are charged to their Python caller):")
for frame, n in self_time.most_common(25):
    print(f"{100 * n / total:5.1f}%  {frame}")
PY
echo "# collapsed stacks: $OUT/profile.txt (flamegraph.pl / speedscope input)" >&2
