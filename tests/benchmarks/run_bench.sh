#!/usr/bin/env bash
# Benchmark privproxy (OURS) against DIRECT and PASSTHRU with ../shared/bench/bench.py.
#
# Usage: tests/benchmarks/run_bench.sh [--quick] [--pin] [--no-wrk] [any other bench.py flag]
# Env:   PYTHON (default .venv/bin/python; it must import privproxy), SHARED (default ../shared),
#        BENCH_OUT (directory for table.md, results.json and logs; default a fresh temp dir).
# Everything binds to 127.0.0.1; bench.py bounds every load loop and stops what it started.
# wrk is used when installed (apt-get install -y wrk), otherwise bench.py's Python load loop.
# The proxy runs in unsafe-key mode (--unsafe-hpke-key = the mock's printed X25519 key):
# attestation is out of scope here; the EHBP crypto and the relay path are what is measured.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
BENCH="$SHARED/bench/bench.py"
[[ -f "$BENCH" ]] || { echo "bench driver not found: $BENCH (set SHARED=...)" >&2; exit 2; }
"$PYTHON" -c 'import privproxy' || { echo "$PYTHON cannot import privproxy" >&2; exit 2; }

OUT="${BENCH_OUT:-$(mktemp -d -t privproxy-bench.XXXXXX)}"
mkdir -p "$OUT/logs"
OURS='{python} -m privproxy --port {port} --api-base {api_base} --unsafe-hpke-key {key_hex}'

status=0
"$PYTHON" "$BENCH" --targets DIRECT,PASSTHRU,OURS \
    --ours-cwd "$ROOT" --ours-cmd "$OURS" \
    --md-out "$OUT/table.md" --json-out "$OUT/results.json" --log-dir "$OUT/logs" \
    "$@" || status=$?
echo "# table: $OUT/table.md  json: $OUT/results.json  logs: $OUT/logs" >&2
exit "$status"
