# Shared set-up for the opt-in end-to-end checks (sourced, not run): a privproxy that imports,
# npm present, one throwaway work directory that every cache and home goes into (nothing is
# written to $HOME), and a `privproxy demo` on a free loopback port that is stopped on exit.
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   e2e_init codex         # NAME for messages and the work directory; sets ROOT PYTHON WORK
#   e2e_start_demo         # sets PORT and URL; DEMO_PID is stopped by the exit trap

log() { echo "$E2E_NAME check: $*"; }
fail() { echo "$E2E_NAME check: FAILED: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk "BEGIN{printf \"%.1f\", $(now) - $1}"; }

_can_run_privproxy() {
    local python
    python="$(command -v "$1" 2>/dev/null)" || return 1
    "$python" -c 'import privproxy' >/dev/null 2>&1
}

_e2e_cleanup() {
    if [[ -n "${DEMO_PID:-}" ]] && kill -0 "$DEMO_PID" 2>/dev/null; then
        kill "$DEMO_PID" 2>/dev/null || true
        wait "$DEMO_PID" 2>/dev/null || true
    fi
    if [[ "${KEEP:-0}" == "1" ]]; then
        echo "$E2E_NAME check: work directory kept at $WORK"
    else
        rm -rf "$WORK"
    fi
}

e2e_init() {
    E2E_NAME="$1"
    ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
    # Preconditions first: finding out after a download that privproxy is missing wastes minutes.
    if [[ -n "${PYTHON:-}" ]]; then
        _can_run_privproxy "$PYTHON" || fail "PYTHON=$PYTHON cannot import privproxy"
    else
        local candidate
        for candidate in "$ROOT/.venv/bin/python" "$(command -v python3 || true)"; do
            if _can_run_privproxy "$candidate"; then PYTHON="$candidate"; break; fi
        done
        [[ -n "${PYTHON:-}" ]] \
            || fail "no Python can import privproxy: install it as the README says, or set PYTHON"
    fi
    command -v npm >/dev/null 2>&1 || fail "npm is needed (Debian: apt-get install npm)"
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/privproxy-$E2E_NAME.XXXXXX")"
    DEMO_PID=""
    trap _e2e_cleanup EXIT
    mkdir -p "$WORK/home"
    # Everything npm, node-gyp and the tools would keep under $HOME goes to the work directory.
    export HOME="$WORK/home" npm_config_cache="$WORK/npm-cache" \
        npm_config_logs_dir="$WORK/npm-logs" npm_config_devdir="$WORK/node-gyp" \
        XDG_CACHE_HOME="$WORK/xdg-cache" XDG_CONFIG_HOME="$WORK/xdg-config" \
        XDG_DATA_HOME="$WORK/xdg-data" XDG_STATE_HOME="$WORK/xdg-state"
    export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
    log "python $PYTHON"
}

e2e_start_demo() {
    PORT="$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    URL="http://127.0.0.1:$PORT"
    log "starting privproxy demo on $URL"
    "$PYTHON" -m privproxy demo --port "$PORT" >"$WORK/demo.log" 2>&1 &
    DEMO_PID=$!
    local _
    for _ in $(seq 1 120); do
        grep -q "is ready on" "$WORK/demo.log" && return 0
        kill -0 "$DEMO_PID" 2>/dev/null || fail "demo exited: $(cat "$WORK/demo.log")"
        sleep 0.5
    done
    fail "demo not ready after 60 s"
}
