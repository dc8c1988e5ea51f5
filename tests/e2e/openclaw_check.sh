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

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init openclaw
OPENCLAW_VERSION="${OPENCLAW_VERSION:-2026.9.6}"
MODEL="privproxy/private/kimi-k3"

node_ok() {
    command -v node >/dev/null 2>&1 || return 1
    node -e 'const [a,b]=process.versions.node.split(".").map(Number);
             process.exit((a===24&&b>=16)||(a===26&&b>=1)||a>26?0:1)'
}

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

e2e_start_demo

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
