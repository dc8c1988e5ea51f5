"""The self-contained HTML status page (`GET /` with `Accept: text/html`) and its login page.

Input is the `/v1/verification` document, so the page and the API never disagree. The
page has no scripts and no external assets: one inline stylesheet, allowed by its hash in
a `Content-Security-Policy` that forbids everything else; forms may post to this origin
only (`form-action 'self'`). Every value is HTML-escaped.

With the local token required, a browser first gets `render_login` (a form posting the
token to `POST /login`, which sets the session cookie); the page then offers a logout
button. Wherever the PPQ key is not fixed by the configuration, the page offers a form
that stores one (`POST /setup/api-key`); the key is never shown back.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape
from typing import Any

from privproxy.server.session import SESSION_LIFETIME

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f5f6f8;
color:#1d2330}
main{max-width:980px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 16px}
h2{font-size:16px;margin:24px 0 8px}
.badge{display:inline-block;padding:10px 18px;border-radius:8px;font-weight:700;font-size:20px;
color:#fff}
.ok{background:#1f883d}.warn{background:#9a6700}.bad{background:#cf222e}
.banner{padding:12px 16px;border-radius:8px;margin:12px 0;font-weight:600}
.sim{background:#8250df;color:#fff;font-size:18px;letter-spacing:.04em}
.alert{background:#ffebe9;border:1px solid #cf222e;color:#82071e}
.note{background:#fff8c5;border:1px solid #9a6700}
table{border-collapse:collapse;width:100%;background:#fff;border-radius:8px}
th,td{text-align:left;vertical-align:top;padding:7px 12px;border-bottom:1px solid #e6e8eb}
th{width:210px;color:#57606a;font-weight:600}
code,pre{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace;word-break:break-all}
pre{background:#1d2330;color:#e6edf3;padding:12px;border-radius:8px;white-space:pre-wrap}
.pass{color:#1f883d;font-weight:700}.fail{color:#cf222e;font-weight:700}
footer{margin-top:24px;color:#57606a;font-size:13px}
form{background:#fff;border-radius:8px;padding:12px 16px;margin:8px 0}
input[type=password]{font:14px ui-monospace,monospace;padding:6px 8px;width:min(420px,90%);
border:1px solid #8c959f;border-radius:6px}
button{font:600 14px system-ui,sans-serif;padding:7px 14px;border-radius:6px;
border:1px solid #1f883d;background:#1f883d;color:#fff;cursor:pointer}
.logout{float:right;background:none;padding:0;margin:0}
.logout button{background:#fff;color:#1d2330;border-color:#8c959f}
"""

STYLE_HASH = base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()

CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src 'sha256-{STYLE_HASH}'; img-src 'none'; "
    "script-src 'none'; connect-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)

PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Not `no-referrer`: with it the browser sends `Origin: null` on the page's own form
    # posts, and the guards could no longer tell them from a forged cross-origin post.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_BADGES = {
    "verified": ("VERIFIED", "ok"),
    "refreshing": ("VERIFIED (re-checking)", "ok"),
    "unverified": ("NOT VERIFIED YET", "warn"),
    "expired": ("NOT VERIFIED: attestation expired", "bad"),
    "failed": ("NOT VERIFIED: attestation failed", "bad"),
    "unsafe": ("NOT VERIFIED: attestation disabled (--unsafe-hpke-key)", "bad"),
}


def prefers_html(accept: str) -> bool:
    """True when `text/html` has the highest quality in `accept` (first wins ties)."""
    best, best_q = "", -1.0
    for part in accept.split(","):
        media, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > best_q:
            best, best_q = media.strip().lower(), q
    return best == "text/html"


def _e(value: Any) -> str:
    return escape("—" if value is None or value == "" else str(value), quote=True)


def _row(label: str, value: Any, *, code: bool = False) -> str:
    cell = f"<code>{_e(value)}</code>" if code else _e(value)
    return f"<tr><th>{_e(label)}</th><td>{cell}</td></tr>"


def _measurement(m: dict[str, Any] | None) -> str:
    if not m:
        return _e(None)
    registers = list(m.get("registers", []))
    regs = "<br>".join(f"<code>{_e(r)}</code>" for r in registers)
    if len(registers) == 1:  # a single register is its own fingerprint
        return f"{_e(m.get('type'))}<br>{regs}"
    return f"{_e(m.get('type'))}<br>fingerprint <code>{_e(m.get('fingerprint'))}</code><br>{regs}"


def _steps(steps: list[dict[str, Any]]) -> str:
    if not steps:
        return "<p>No verification has finished yet.</p>"
    rows = []
    for s in steps:
        ok = s.get("status") == "passed"
        mark = '<span class="pass">✓ passed</span>' if ok else '<span class="fail">✗ failed</span>'
        rows.append(f"<tr><th>{_e(s.get('step'))}</th><td>{mark} {_e(s.get('detail'))}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _usage(base_url: str, model: str, token_required: bool) -> str:
    auth = ' \\\n  -H "Authorization: Bearer $PRIVPROXY_TOKEN"' if token_required else ""
    key = "os.environ['PRIVPROXY_TOKEN']" if token_required else '"unused"'
    curl = (
        f"curl {base_url}/v1/chat/completions \\\n"
        f'  -H "Content-Type: application/json"{auth} \\\n'
        f'  -d \'{{"model": "{model}", '
        '"messages": [{"role": "user", "content": "Hello"}]}\''
    )
    python = (
        ("import os\n" if token_required else "") + "from openai import OpenAI\n\n"
        f'client = OpenAI(base_url="{base_url}/v1", api_key={key})\n'
        f'reply = client.chat.completions.create(model="{model}", '
        'messages=[{"role": "user", "content": "Hello"}])\nprint(reply.choices[0].message.content)'
    )
    note = (
        "<p>The local token is in <code>PRIVPROXY_TOKEN</code> or the state directory's "
        "<code>token</code> file.</p>"
        if token_required
        else ""
    )
    return f"<h2>Use the proxy</h2>{note}<pre>{_e(curl)}</pre><pre>{_e(python)}</pre>"


def _format_rows(enclave: dict[str, Any], attestation: dict[str, Any]) -> list[str]:
    """Attestation format, the v3 freshness deadline and what is not verified (GPU)."""
    rows = [_row("Attestation format", enclave.get("attestation_format"))]
    if enclave.get("freshness_expires_at"):
        rows.append(_row("Freshness deadline", enclave.get("freshness_expires_at")))
    if enclave.get("platform_policy"):
        rows.append(_row("Platform policy", enclave.get("platform_policy")))
    if attestation.get("gpu_evidence"):
        rows.append(_row("GPU evidence", attestation.get("gpu_evidence")))
    return rows


_SIMULATED_BANNER = (
    '<div class="banner sim" id="simulated">SIMULATED ENCLAVE: demo mode. '
    "Answers come from a local simulator; this is not a real attestation.</div>"
)


def _head(title: str, *, simulated: bool, refresh: bool) -> str:
    # The tab title says SIMULATED too: a tab is often all a person sees of the page.
    prefix = "SIMULATED · " if simulated else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        + ('<meta http-equiv="refresh" content="60">' if refresh else "")
        + f"<title>{_e(prefix + title)}</title><style>{_CSS}</style></head><body><main>"
    )


def render_login(*, simulated: bool = False, failed: bool = False) -> str:
    """The login page shown instead of the status page while the local token is required
    and the browser has no session: one password field posting to `/login`."""
    parts = [
        _head("privproxy: sign in", simulated=simulated, refresh=False),
        "<h1>privproxy: private inference proxy</h1>",
    ]
    if simulated:
        parts.append(_SIMULATED_BANNER)
    if failed:
        parts.append('<div class="banner alert" id="login-failed">Wrong token.</div>')
    parts += [
        "<p>This proxy requires its local token. Enter it once to see the status page; the "
        "browser then keeps a session cookie (HttpOnly, this site only, "
        f"{SESSION_LIFETIME // 3600} hours), never the token. The token is in "
        "<code>PRIVPROXY_TOKEN</code> or the state directory's "
        "<code>token</code> file.</p>",
        '<form method="post" action="/login" id="login">',
        '<label for="token">Local token</label><br>',
        '<input type="password" id="token" name="token" autocomplete="current-password" '
        'required minlength="16" maxlength="512"> ',
        '<button type="submit">Sign in</button></form>',
        "<footer>API clients send <code>Authorization: Bearer &lt;token&gt;</code>; the "
        "session cookie only opens this page and <code>/v1/verification</code>.</footer>",
        "</main></body></html>",
    ]
    return "".join(parts)


def _logout_form() -> str:
    return (
        '<form method="post" action="/logout" class="logout" id="logout">'
        '<button type="submit">Sign out</button></form>'
    )


def _key_form(key_source: str | None) -> str:
    state = (
        '<p id="key-state">A PPQ API key is stored in the state directory.</p>'
        if key_source == "stored"
        else '<p id="key-state">No PPQ API key is set: requests are refused (401) until one is.</p>'
    )
    verb = "Replace the stored key" if key_source == "stored" else "Store a key"
    return (
        f"<h2>PPQ API key</h2>{state}"
        '<form method="post" action="/setup/api-key" id="api-key">'
        f'<label for="apiKey">{verb} (from ppq.ai, starts with <code>sk-</code>)</label><br>'
        '<input type="password" id="apiKey" name="apiKey" autocomplete="off" required '
        'pattern="sk-[A-Za-z0-9_\\-]{8,200}" maxlength="203"> '
        '<button type="submit">Save</button></form>'
        "<p>It is written to the state directory (mode 0600) and used for later requests. "
        "It is never shown again or logged.</p>"
    )


def render(
    doc: dict[str, Any],
    *,
    base_url: str,
    model: str,
    token_required: bool = False,
    session: bool = False,
    key_source: str | None = "configured",
) -> str:
    """The status page for one `/v1/verification` document. `session`: the browser is
    signed in with the session cookie (a logout button is shown). `key_source`: where the
    PPQ key comes from (`configured`, `stored` or None); unless `configured`, the page offers
    the form that stores one (and, so that typing is not lost, does not refresh itself)."""
    state = str(doc.get("state", "unverified"))
    label, tone = _BADGES.get(state, (f"NOT VERIFIED: {state}", "bad"))
    enclave: dict[str, Any] = doc.get("enclave") or {}
    key_form = key_source != "configured"
    parts = [
        _head(f"privproxy: {label}", simulated=bool(doc.get("simulated")), refresh=not key_form),
        _logout_form() if session else "",
        "<h1>privproxy: private inference proxy</h1>",
    ]
    if doc.get("simulated"):
        parts.append(_SIMULATED_BANNER)
    parts.append(f'<div class="badge {tone}" id="state" data-state="{_e(state)}">{_e(label)}</div>')
    err = doc.get("error")
    if err:
        parts.append(
            f'<div class="banner alert" id="error">Step <b>{_e(err.get("step"))}</b> '
            f"({_e(err.get('code'))}): {_e(err.get('message'))} "
            f"<small>at {_e(err.get('at'))}</small></div>"
        )
    change = doc.get("measurement_change")
    if change:
        parts.append(
            '<div class="banner note" id="measurement-change">The code measurement changed at '
            f"{_e(change.get('at'))}: <code>{_e(change.get('old'))}</code> → "
            f"<code>{_e(change.get('new'))}</code>. Check the release notes of the new release."
            "</div>"
        )
    verifier = doc.get("verifier") or {}
    parts.append("<h2>What was verified</h2>")
    if enclave:
        parts += [
            "<table>",
            _row("Enclave", enclave.get("domain")),
            _row("Platform", enclave.get("platform")),
            _row("Repository", enclave.get("repository")),
            _row("Release digest", enclave.get("release_digest"), code=True),
            "<tr><th>Code measurement</th>"
            f"<td>{_measurement(enclave.get('code_measurement'))}</td></tr>",
            "<tr><th>Hardware measurement</th>"
            f"<td>{_measurement(enclave.get('hardware_measurement'))}</td></tr>",
            _row("HPKE key fingerprint", enclave.get("hpke_key_fingerprint"), code=True),
            _row("TLS key fingerprint", enclave.get("tls_key_fingerprint"), code=True),
            _row("TCB", ", ".join(f"{k}={v}" for k, v in (enclave.get("tcb") or {}).items())),
            _row("Verified at", doc.get("verified_at")),
            _row("Expires at", doc.get("expires_at")),
            *_format_rows(enclave, doc.get("attestation") or {}),
        ]
    else:
        parts.append(
            '<p id="no-enclave">No enclave is verified right now: chat requests are refused '
            "(503) until a verification succeeds.</p><table>"
        )
    parts += [
        _row("Last check", doc.get("last_check_at")),
        _row("Next check", doc.get("next_check_at")),
        _row("Verifier", f"{verifier.get('name', '')} {verifier.get('version', '')}".strip()),
        "</table><h2>Verification steps</h2>",
        _steps(list(doc.get("steps") or [])),
        _key_form(key_source) if key_form else "",
        _usage(base_url, model, token_required),
        "<footer>Machine-readable: "
        '<a href="/v1/verification"><code>GET /v1/verification</code></a>, '
        "<code>/readyz</code>, <code>/metrics</code>."
        + ("" if key_form else " This page refreshes every minute.")
        + "</footer>",
        "</main></body></html>",
    ]
    return "".join(parts)


__all__ = [
    "CONTENT_SECURITY_POLICY",
    "PAGE_HEADERS",
    "STYLE_HASH",
    "prefers_html",
    "render",
    "render_login",
]
