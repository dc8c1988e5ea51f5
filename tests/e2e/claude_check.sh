#!/usr/bin/env bash
# Opt-in end-to-end check: Claude Code (npm @anthropic-ai/claude-code) through `privproxy demo`.
#
# What it does (everything under a throwaway directory, nothing in $HOME):
#   1. installs @anthropic-ai/claude-code (CLAUDE_VERSION, default 2.1.332) with npm into it;
#   2. starts `privproxy demo` (simulated enclave, loopback only) on a free port;
#   3. takes Claude Code's environment from `privproxy client-config claude --proxy-url ...`
#      (so the printed configuration is what is tested);
#   4. runs `claude -p` twice, non-interactively, with every non-loopback connection sent to a
#      closed port: a plain turn, and a tool turn ("List the files ...", `ls` allowed) that must
#      make a real tool round trip (two model turns, the listing in the answer);
#   5. checks both answers came from the simulated enclave (they contain SIMULATED) and prints
#      the Claude Code version and the time of each step.
#
# Needs: bash, npm (Node >= 18), the npm registry, the project installed (PYTHON, else
# ./.venv/bin/python, else python3: the first that imports privproxy; see lib.sh). Run: bash tests/e2e/claude_check.sh, or .venv/bin/pytest -m e2e tests/e2e
# KEEP=1 keeps the work directory for inspection.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init claude
CLAUDE_VERSION="${CLAUDE_VERSION:-2.1.332}"
TURN_TIMEOUT="${TURN_TIMEOUT:-180}"

log "installing @anthropic-ai/claude-code@$CLAUDE_VERSION"
T0=$(now)
HOME="$WORK/home" npm install --silent --prefix "$WORK/npm" --cache "$WORK/npm-cache" \
    "@anthropic-ai/claude-code@$CLAUDE_VERSION" >"$WORK/install.log" 2>&1 \
    || fail "npm install (see $WORK/install.log)"
CLAUDE="$WORK/npm/node_modules/.bin/claude"
# The launcher links the platform binary in a postinstall step; run it if npm skipped it.
if ! HOME="$WORK/home" "$CLAUDE" --version >/dev/null 2>&1; then
    (cd "$WORK/npm" && HOME="$WORK/home" node node_modules/@anthropic-ai/claude-code/install.cjs) \
        >>"$WORK/install.log" 2>&1 || true
fi
VERSION="$(HOME="$WORK/home" "$CLAUDE" --version 2>/dev/null | awk '{print $1}')" \
    || fail "claude does not run after install (see $WORK/install.log)"
[[ -n "$VERSION" ]] || fail "claude --version printed nothing"
INSTALL_S=$(since "$T0")
log "claude $VERSION installed in ${INSTALL_S}s"

e2e_start_demo

"$PYTHON" -m privproxy client-config claude --port "$PORT" --proxy-url "$URL" >"$WORK/claude.env" \
    || fail "privproxy client-config claude"
# The exports, as `env` arguments (values are plain words or the key fallback).
mapfile -t CONFIG_ENV < <(PPQ_API_KEY="" bash -c "set -a; . '$WORK/claude.env'; env" \
    | grep -E '^(ANTHROPIC_|CLAUDE_CODE_|DISABLE_)')
[[ " ${CONFIG_ENV[*]} " == *" ANTHROPIC_BASE_URL=$URL "* ]] || fail "client-config base URL"
BLOCK="http://127.0.0.1:9"  # a closed port: every non-loopback connection fails at once

run_turn() {  # $1 = name, $2 = prompt, rest = extra claude flags
    local name="$1" prompt="$2"
    shift 2
    mkdir -p "$WORK/$name/home" "$WORK/$name/work"
    printf 'hello\n' >"$WORK/$name/work/hello.txt"
    local t0
    t0=$(now)
    (cd "$WORK/$name/work" && env -i PATH="$PATH" TERM=dumb LANG=C.UTF-8 HOME="$WORK/$name/home" \
        "${CONFIG_ENV[@]}" HTTPS_PROXY="$BLOCK" HTTP_PROXY="$BLOCK" https_proxy="$BLOCK" \
        http_proxy="$BLOCK" NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost \
        DISABLE_BUG_COMMAND=1 timeout "$TURN_TIMEOUT" "$CLAUDE" -p "$prompt" \
        --output-format json --no-session-persistence "$@" \
        </dev/null >"$WORK/$name.json" 2>"$WORK/$name.err") \
        || fail "claude $name turn exited $? (see $WORK/$name.err; KEEP=1 keeps it)"
    eval "${name^^}_S=$(since "$t0")"
}

log "turn 1: plain answer"
run_turn plain "Reply with one word: hello"
log "turn 2: tool round trip"
run_turn tool "List the files in the current directory" --allowedTools "Bash(ls:*)" "Glob" "Read"

"$PYTHON" - "$WORK/plain.json" "$WORK/tool.json" <<'EOF'
import json, sys

for name, path in zip(("plain", "tool"), sys.argv[1:3]):
    doc = json.load(open(path))
    answer = str(doc.get("result") or "")
    assert doc.get("subtype") == "success" and not doc.get("is_error"), (name, doc)
    # Only the simulated enclave, reached through the proxy, answers with this marker.
    assert "SIMULATED" in answer, (name, answer)
    if name == "tool":
        assert (doc.get("num_turns") or 0) >= 2, ("no tool round trip", doc)
        # The tool really ran in the work directory: its listing came back in the answer.
        assert "hello.txt" in answer, ("tool result missing", answer)
    print(f"{name}: turns={doc.get('num_turns')} answer={answer[:70]!r}")
EOF
log "PASSED (claude $VERSION; install ${INSTALL_S}s, plain turn ${PLAIN_S}s, tool turn ${TOOL_S}s)"
