#!/usr/bin/env bash
# Opt-in end-to-end check: one headless OpenClaw agent turn through `privproxy demo`.
#
# What it does (everything under a throwaway directory, nothing in $HOME):
#   1. installs Node 24 from the npm registry (the `node@24` package ships the binary) unless
#      the `node` on PATH already satisfies OpenClaw's engines (>=24.16 <25 or >=26.1);
#   2. installs the `openclaw` npm package (OPENCLAW_VERSION, default 2026.9.6);
#   3. starts `privproxy demo` (simulated enclave, loopback only) on a free port;
#   4. writes an OpenClaw config with `privproxy client-config openclaw --proxy-url ... --write`
#      (the model list from the running demo);
#   5. runs `openclaw agent exec` twice with that config and model privproxy/private/kimi-k3:
#      a plain turn ("Say hello") and a tool turn ("Please use ls ..."), and checks that the
#      answers came back through the proxy from the simulated enclave.
#
# Needs: bash, npm (any Node >= 18 to bootstrap), network access to the npm registry, and
# privproxy installed as the README says: PYTHON if set, else the checkout's .venv, else the
# python3 on PATH, whichever can import privproxy (checked first, before anything downloads).
# npm's cache, logs and build directories and OpenClaw's state all live in the work directory,
# so nothing is written to $HOME. Run from anywhere:
#     bash tests/e2e/openclaw_check.sh
# or through pytest:  .venv/bin/python -m pytest -m e2e tests/e2e/test_openclaw_check.py
# KEEP=1 keeps the work directory for inspection.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OPENCLAW_VERSION="${OPENCLAW_VERSION:-2026.9.6}"
MODEL="privproxy/private/kimi-k3"

log() { echo "openclaw check: $*"; }
fail() { echo "openclaw check: FAILED: $*" >&2; exit 1; }

# Preconditions first: finding out after a Node download that privproxy is missing wastes minutes.
can_run_privproxy() {
    local python
    python="$(command -v "$1" 2>/dev/null)" || return 1
    "$python" -c 'import privproxy' >/dev/null 2>&1
}
if [[ -n "${PYTHON:-}" ]]; then
    can_run_privproxy "$PYTHON" || fail "PYTHON=$PYTHON cannot import privproxy"
else
    for candidate in "$ROOT/.venv/bin/python" "$(command -v python3 || true)"; do
        if can_run_privproxy "$candidate"; then PYTHON="$candidate"; break; fi
    done
    [[ -n "${PYTHON:-}" ]] \
        || fail "no Python can import privproxy: install it as the README says, or set PYTHON"
fi
command -v npm >/dev/null 2>&1 || fail "npm is needed (Debian: apt-get install npm)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/privproxy-openclaw.XXXXXX")"
DEMO_PID=""

cleanup() {
    if [[ -n "$DEMO_PID" ]] && kill -0 "$DEMO_PID" 2>/dev/null; then
        kill "$DEMO_PID" 2>/dev/null || true
        wait "$DEMO_PID" 2>/dev/null || true
    fi
    if [[ "${KEEP:-0}" == "1" ]]; then
        echo "openclaw check: work directory kept at $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

node_ok() {
    command -v node >/dev/null 2>&1 || return 1
    node -e 'const [a,b]=process.versions.node.split(".").map(Number);
             process.exit((a===24&&b>=16)||(a===26&&b>=1)||a>26?0:1)'
}

export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
# Everything npm and node-gyp would keep under $HOME goes to the work directory instead.
export npm_config_cache="$WORK/npm-cache" npm_config_logs_dir="$WORK/npm-logs" \
    npm_config_devdir="$WORK/node-gyp" XDG_CACHE_HOME="$WORK/xdg-cache" \
    XDG_CONFIG_HOME="$WORK/xdg-config" XDG_DATA_HOME="$WORK/xdg-data" \
    XDG_STATE_HOME="$WORK/xdg-state"
log "python $PYTHON"
if ! node_ok; then
    log "installing Node 24 from the npm registry"
    npm install --silent --prefix "$WORK/node" node@24 >"$WORK/node-install.log" 2>&1 \
        || fail "npm install node@24 (see $WORK/node-install.log)"
    export PATH="$WORK/node/node_modules/.bin:$PATH"
    node_ok || fail "Node from node@24 does not satisfy OpenClaw's engines: $(node --version)"
fi
log "node $(node --version)"

log "installing openclaw@$OPENCLAW_VERSION"
npm install --silent --prefix "$WORK/oc" "openclaw@$OPENCLAW_VERSION" >"$WORK/oc-install.log" 2>&1 \
    || fail "npm install openclaw (see $WORK/oc-install.log)"
OPENCLAW="$WORK/oc/node_modules/.bin/openclaw"
[[ -x "$OPENCLAW" ]] || fail "openclaw binary missing after install"

PORT="$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
log "starting privproxy demo on 127.0.0.1:$PORT"
"$PYTHON" -m privproxy demo --port "$PORT" >"$WORK/demo.log" 2>&1 &
DEMO_PID=$!
for _ in $(seq 1 120); do
    grep -q "is ready on" "$WORK/demo.log" && break
    kill -0 "$DEMO_PID" 2>/dev/null || fail "demo exited: $(cat "$WORK/demo.log")"
    sleep 0.5
done
grep -q "is ready on" "$WORK/demo.log" || fail "demo not ready after 60 s"

"$PYTHON" -m privproxy client-config openclaw --port "$PORT" --proxy-url "http://127.0.0.1:$PORT" \
    --write "$WORK/openclaw.json"

run_turn() {  # $1 = name, $2 = message
    mkdir -p "$WORK/ws" "$WORK/home"
    HOME="$WORK/home" OPENCLAW_STATE_DIR="$WORK/home/.openclaw" \
        "$OPENCLAW" agent exec --config "$WORK/openclaw.json" --model "$MODEL" --json \
        --timeout 120 --cwd "$WORK/ws" "$2" >"$WORK/$1.json" 2>"$WORK/$1.err" \
        || fail "openclaw agent exec ($1) exited $? (see $WORK/$1.err)"
}

log "agent turn 1: plain answer"
run_turn plain "Say hello"
log "agent turn 2: tool call round trip"
run_turn tool "Please use ls to list the workspace"

"$PYTHON" - "$WORK/plain.json" "$WORK/tool.json" <<'EOF'
import json, sys

plain, tool = (json.load(open(p)) for p in sys.argv[1:3])
for name, doc in (("plain", plain), ("tool", tool)):
    assert doc.get("ok") is True, f"{name}: not ok: {doc.get('error')}"
    assert doc.get("provider") == "privproxy", f"{name}: provider {doc.get('provider')}"
# Only the simulated enclave, reached through the proxy, answers with this prefix.
assert plain["final"].startswith("[SIMULATED] You said:"), plain["final"]
assert "Say hello" in plain["final"], plain["final"]
assert "ls" in tool.get("toolSummary", {}).get("tools", []), tool.get("toolSummary")
assert tool["final"].startswith("[SIMULATED] The tool returned:"), tool["final"]
print("plain:", plain["final"])
print("tool: ", tool["final"].splitlines()[0], "...")
EOF
log "PASSED"
