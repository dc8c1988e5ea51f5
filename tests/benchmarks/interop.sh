#!/usr/bin/env bash
# Interop check: the official openai SDK -> privproxy -> mock gateway that REQUIRES EHBP.
#
# Usage: tests/benchmarks/interop.sh        (exit 0 only if every check passes)
# Env:   PYTHON (default .venv/bin/python), SHARED (default ../shared), INTEROP_TIMEOUT (s, default 60)
# Starts ../shared/bench/mock_gateway.py --ehbp require and the proxy in unsafe-key mode with the
# mock's key, both on free 127.0.0.1 ports, runs openai_sdk_check.py, then confirms from the mock's
# counters that every request arrived encrypted. Stops both processes by PID on exit.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
LIMIT="${INTEROP_TIMEOUT:-60}"
[[ -f "$SHARED/bench/mock_gateway.py" ]] || { echo "missing $SHARED/bench" >&2; exit 2; }

LOGS="$(mktemp -d -t privproxy-interop.XXXXXX)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
get() { "$PYTHON" -c 'import sys,urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())' "$1"; }

wait_for() {  # wait_for URL PID NAME
    local end=$((SECONDS + LIMIT))
    until get "$1" >/dev/null 2>&1; do
        kill -0 "$2" 2>/dev/null || { echo "$3 exited:" >&2; tail -20 "$LOGS/$3.log" >&2; exit 1; }
        ((SECONDS < end)) || { echo "$3 not ready after ${LIMIT}s" >&2; tail -20 "$LOGS/$3.log" >&2; exit 1; }
        sleep 0.2
    done
}

MOCK_PORT="$(free_port)"
"$PYTHON" "$SHARED/bench/mock_gateway.py" --host 127.0.0.1 --port "$MOCK_PORT" --ehbp require \
    >"$LOGS/mock.log" 2>&1 &
pids+=("$!")
wait_for "http://127.0.0.1:$MOCK_PORT/health" "${pids[0]}" mock
KEY_HEX="$(get "http://127.0.0.1:$MOCK_PORT/health" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["public_key"])')"

PROXY_PORT="$(free_port)"
(cd "$ROOT" && PPQ_API_KEY=sk-interop exec "$PYTHON" -m privproxy --port "$PROXY_PORT" \
    --api-base "http://127.0.0.1:$MOCK_PORT" --unsafe-hpke-key "$KEY_HEX") >"$LOGS/proxy.log" 2>&1 &
pids+=("$!")
wait_for "http://127.0.0.1:$PROXY_PORT/health" "${pids[1]}" proxy

status=0
timeout "$LIMIT" "$PYTHON" "$SHARED/bench/openai_sdk_check.py" \
    --base-url "http://127.0.0.1:$PROXY_PORT/v1" || status=$?

STATS="$(get "http://127.0.0.1:$MOCK_PORT/_mock/stats")"
echo "mock stats: $STATS"
"$PYTHON" - "$STATS" <<'PY' || status=1
import json, sys
s = json.loads(sys.argv[1])
problems = []
if not s.get("encrypted"):
    problems.append("no encrypted request reached the mock")
if s.get("plaintext"):
    problems.append(f"{s['plaintext']} plaintext request(s) reached the mock")
for key in ("bad_requests", "missing_authorization", "missing_x_private_model", "missing_x_query_source"):
    if s.get(key):
        problems.append(f"{key}={s[key]}")
if s.get("missing_x_tinfoil_enclave_url"):
    print(f"NOTE missing_x_tinfoil_enclave_url={s['missing_x_tinfoil_enclave_url']} (expected in unsafe-key mode)")
print("FAIL " + "; ".join(problems) if problems else "PASS mock saw only EHBP requests with gateway headers")
sys.exit(1 if problems else 0)
PY
[[ $status -eq 0 ]] || { echo "logs kept in $LOGS" >&2; tail -20 "$LOGS/proxy.log" >&2; }
[[ $status -ne 0 ]] || rm -rf "$LOGS"
exit "$status"
