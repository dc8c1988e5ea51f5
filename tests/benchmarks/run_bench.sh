#!/usr/bin/env bash
# Benchmark privproxy (OURS) against DIRECT and PASSTHRU with ../shared/bench/bench.py.
#
# Usage: tests/benchmarks/run_bench.sh [--repeat N] [--quick] [--pin] [--no-wrk] [any other bench.py flag]
# Env:   PYTHON (default .venv/bin/python; it must import privproxy), SHARED (default ../shared),
#        BENCH_OUT (directory for table.md, results.json and logs; default a fresh temp dir).
# --repeat N runs the whole bench N times (each in $BENCH_OUT/run-K) and then prints every run's
# OURS/PASSTHRU ratios and their medians (tests/benchmarks/summarize.py): one run on the shared
# vCPUs moves by +-20 %, so targets are judged on the median of several full runs.
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

REPEAT=1
if [[ "${1:-}" == "--repeat" ]]; then
    REPEAT="${2:?--repeat needs a count}"; shift 2
fi
OUT="${BENCH_OUT:-$(mktemp -d -t privproxy-bench.XXXXXX)}"
OURS='{python} -m privproxy --port {port} --api-base {api_base} --unsafe-hpke-key {key_hex}'

status=0
results=()
for ((k = 1; k <= REPEAT; k++)); do
    dir="$OUT"; [[ "$REPEAT" -gt 1 ]] && dir="$OUT/run-$k"
    mkdir -p "$dir/logs"
    "$PYTHON" "$BENCH" --targets DIRECT,PASSTHRU,OURS \
        --ours-cwd "$ROOT" --ours-cmd "$OURS" \
        --md-out "$dir/table.md" --json-out "$dir/results.json" --log-dir "$dir/logs" \
        "$@" || status=$?
    results+=("$dir/results.json")
    echo "# table: $dir/table.md  json: $dir/results.json  logs: $dir/logs" >&2
done
(cd "$ROOT" && "$PYTHON" -m tests.benchmarks.summarize "${results[@]}") || status=$?
exit "$status"
