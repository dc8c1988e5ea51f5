#!/usr/bin/env bash
# Opt-in end-to-end check: Codex (npm @openai/codex) through `privproxy demo` over the
# OpenAI Responses API, one plain turn and one tool turn.
#
# What it does (everything under a throwaway directory, nothing in $HOME):
#   1. uses the `node` on PATH when it is >= 18, else installs Node 22 from the npm registry;
#   2. installs @openai/codex (CODEX_VERSION, default 0.171.0) with its own npm cache and home;
#   3. starts `privproxy demo` (simulated enclave, loopback only) on a free port;
#   4. writes CODEX_HOME/config.toml from `privproxy client-config codex` (`wire_api = "responses"`);
#   5. runs `codex exec` twice, with every non-loopback connection sent to a closed port:
#      a plain turn ("Reply with one word: hello") and a tool turn ("List the files in the
#      current directory"); PASS needs exit 0, a final answer containing SIMULATED and, for
#      the tool turn, a command Codex ran (the simulated model asked for `ls`) whose output
#      came back in the answer.
#
# Needs: bash, npm, network access to the npm registry, the project installed (PYTHON, else
# ./.venv/bin/python, else python3: the first that imports privproxy; see lib.sh). Run:  bash tests/e2e/codex_check.sh
# or through pytest:  .venv/bin/pytest -m e2e tests/e2e
# KEEP=1 keeps the work directory; TURN_TIMEOUT (s, default 180) bounds each turn.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init codex
CODEX_VERSION="${CODEX_VERSION:-0.171.0}"
TURN_TIMEOUT="${TURN_TIMEOUT:-180}"
MODEL="private/kimi-k3"

node_ok() {
    command -v node >/dev/null 2>&1 || return 1
    node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)'
}
if ! node_ok; then
    log "installing Node 22 from the npm registry"
    npm install --silent --prefix "$WORK/node" node@22 >"$WORK/node-install.log" 2>&1 \
        || fail "npm install node@22 (see $WORK/node-install.log)"
    export PATH="$WORK/node/node_modules/.bin:$PATH"
    node_ok || fail "no usable Node: $(node --version)"
fi
log "node $(node --version)"

log "installing @openai/codex@$CODEX_VERSION"
T0="$(now)"
npm install --silent --prefix "$WORK/npm" "@openai/codex@$CODEX_VERSION" \
    >"$WORK/codex-install.log" 2>&1 || fail "npm install @openai/codex (see $WORK/codex-install.log)"
CODEX="$WORK/npm/node_modules/.bin/codex"
[[ -x "$CODEX" ]] || fail "codex launcher missing after install"
# The launcher runs a native binary from an optional platform package.
compgen -G "$WORK/npm/node_modules/@openai/codex-*/vendor/*/bin/codex" >/dev/null \
    || fail "the native codex binary (optional platform package) is missing"
mkdir -p "$WORK/codex-home"
VERSION="$(CODEX_HOME="$WORK/codex-home" "$CODEX" --version 2>/dev/null || true)"
log "installed $VERSION in $(since "$T0") s"

e2e_start_demo

# The provider block is what `privproxy client-config codex` prints (so the printed
# configuration is what is tested); the two policies in front are this run's own choices.
{
    printf 'approval_policy = "never"\nsandbox_mode = "read-only"\n'
    "$PYTHON" -m privproxy client-config codex --port "$PORT" --proxy-url "$URL" \
        --model "$MODEL" --key-env PRIVPROXY_DEMO_KEY
} >"$WORK/codex-home/config.toml" || fail "privproxy client-config codex"
grep -q 'wire_api = "responses"' "$WORK/codex-home/config.toml" || fail "client-config: wire_api"

# A verdict from Codex's JSON event log: exit status, final answer, commands it ran.
verdict() {  # $1 = events file, $2 = last-message file, $3 = exit code, $4 = 1 for a tool turn
    "$PYTHON" - "$@" <<'PY'
import json, sys
events_path, last_path, code, tool = sys.argv[1:5]
answer, commands, outputs, failed = "", 0, [], None
try:
    answer = open(last_path, encoding="utf-8").read()
except OSError:
    pass
for line in open(events_path, encoding="utf-8"):
    try:
        event = json.loads(line)
    except ValueError:
        continue
    item = event.get("item") or {}
    if event.get("type") == "item.completed" and item.get("type") == "command_execution":
        commands += 1
        outputs.append(item.get("aggregated_output") or "")
    if event.get("type") == "item.completed" and item.get("type") == "agent_message" and not answer:
        answer = item.get("text") or ""
    if event.get("type") in ("turn.failed", "error"):
        failed = (event.get("error") or {}).get("message") or event.get("message") or "failed"
problems = []
if code != "0":
    problems.append(f"exit code {code}")
if failed:
    problems.append(f"error {failed!r}")
if "SIMULATED" not in answer:
    problems.append(f"answer without SIMULATED: {answer[:120]!r}")
if tool == "1":
    if not commands:
        problems.append("no command ran")
    elif not any(out.strip() and out.strip().splitlines()[0] in answer for out in outputs):
        problems.append("the command's output is not in the answer")
print("PASS" if not problems else "FAIL " + "; ".join(problems), f"commands={commands}")
PY
}

run_turn() {  # $1 = name, $2 = 1 for a tool turn, $3 = prompt
    local dir="$WORK/turn-$1" start code result
    mkdir -p "$dir/work" "$dir/home"
    printf 'hello\n' >"$dir/work/hello.txt"
    start="$(now)"
    code=0
    (cd "$dir/work" && env -i PATH="$PATH" TERM=dumb LANG=C.UTF-8 HOME="$dir/home" \
        CODEX_HOME="$WORK/codex-home" PRIVPROXY_DEMO_KEY=unused \
        HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 ALL_PROXY=http://127.0.0.1:9 \
        https_proxy=http://127.0.0.1:9 http_proxy=http://127.0.0.1:9 all_proxy=http://127.0.0.1:9 \
        NO_PROXY=127.0.0.1,localhost,::1 no_proxy=127.0.0.1,localhost,::1 \
        timeout "$TURN_TIMEOUT" "$CODEX" exec --skip-git-repo-check --ephemeral --json \
        -o "$dir/last.txt" "$3" </dev/null >"$dir/events.jsonl" 2>"$dir/stderr.log") || code=$?
    result="$(verdict "$dir/events.jsonl" "$dir/last.txt" "$code" "$2")"
    log "$1 turn: $result in $(since "$start") s"
    if [[ "$result" != PASS* ]]; then
        tail -20 "$dir/stderr.log" >&2 || true
        tail -20 "$WORK/demo.log" >&2 || true
        return 1
    fi
}

status=0
run_turn plain 0 "Reply with one word: hello" || status=1
run_turn tool 1 "List the files in the current directory" || status=1
grep -q "dropped tools the sealed chat path cannot run: web_search" "$WORK/demo.log" \
    && log "the demo dropped Codex's hosted web_search tool (logged)" || true
[[ $status -eq 0 ]] || fail "see above ($VERSION)"
log "PASSED ($VERSION, model $MODEL)"
