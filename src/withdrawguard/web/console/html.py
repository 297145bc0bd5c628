"""What every console page shares: the page layout with its style sheet, and the HTML
and redirect responses the views answer with."""

from __future__ import annotations

from html import escape

from aiohttp import web

from withdrawguard.web.console.sessions import Session

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2733;background:#f6f7f9}
header{background:#1d2733;color:#fff;padding:10px 20px;display:flex;gap:20px;align-items:center}
header a{color:#fff} header .me{margin-left:auto} header form{display:inline}
main{padding:16px 20px} h1{font-size:20px} h2{font-size:16px;margin-top:24px}
table{border-collapse:collapse;width:100%;background:#fff} th,td{padding:6px 8px;
border-bottom:1px solid #e3e6ea;text-align:left;vertical-align:top} th{background:#eef0f3}
.num{text-align:right;white-space:nowrap} .muted{color:#667} .flash{background:#e8f4ff;
padding:8px 12px;border-left:4px solid #2a7ae2} .error{background:#fdecea;border-color:#d93025}
tr.evidence td{background:#fff4c2} .tag{display:inline-block;background:#f0b400;color:#1d2733;
border-radius:3px;padding:0 5px;margin:1px 2px;font-size:12px;font-weight:600}
.sev-critical .sev{color:#fff;background:#b3261e} .sev-high .sev{color:#fff;background:#e8710a}
.sev-medium .sev{background:#fde293} .status{font-weight:600} .st-held{color:#b3261e}
.st-released{color:#188038} .st-confirmed_fraud{color:#fff;background:#b3261e;padding:0 4px}
form.act input[name=note],form.act textarea{width:220px} button{margin-left:4px}
form.policy-act{margin:8px 0} form.policy-act input[name=note]{width:220px}
form.policy-act textarea{width:640px;font-family:monospace}
.login{max-width:320px;margin:60px auto;background:#fff;padding:24px;border-radius:6px}
.login input{width:100%;margin:4px 0 12px;padding:6px;box-sizing:border-box}
nav.tabs{margin:8px 0} nav.tabs a{display:inline-block;padding:4px 10px;margin:0 4px 4px 0;
background:#e3e6ea;border-radius:4px;text-decoration:none;color:#1d2733}
nav.tabs a.on{background:#1d2733;color:#fff} .past-due{color:#b3261e;font-weight:600}
.boxes{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:12px}
.box{background:#fff;padding:8px 12px;border:1px solid #e3e6ea;border-radius:4px}
.box h3{font-size:14px;margin:4px 0 8px} .box textarea{width:100%;box-sizing:border-box}
.reasons label{display:block;white-space:nowrap}
.bar{display:flex;gap:12px;align-items:flex-end;flex-wrap:wrap;margin:8px 0}
.unsent{display:block;margin:8px 0} .unsent textarea{display:block;width:640px;max-width:100%}
"""


def layout(title: str, body: str, session: Session | None, csrf: str = "", js: str = "") -> str:
    """A whole console page: `body` (already escaped) under the header every page has;
    with a session, the navigation, the user and role, and the CSRF token for scripts."""
    nav = ""
    attrs = ""
    if session is not None:
        attrs = f' data-role="{escape(session.role)}" data-csrf="{escape(csrf)}"'
        nav = (
            '<a href="/console">Holds and alerts</a><a href="/cases">Cases</a>'
            '<a href="/policy">Policy</a>'
            f'<span class="me">{escape(session.user)} ({escape(session.role)})</span>'
            '<form method="post" action="/logout">'
            f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
            "<button>Sign out</button></form>"
        )
    script = f"<script>{js}</script>" if js else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)} · withdrawguard</title><style>{CSS}</style></head>"
        f"<body{attrs}><header><strong>withdrawguard</strong>{nav}</header>"
        f"<main>{body}</main>{script}</body></html>"
    )


def unsent(note: str) -> str:
    """A note typed into a refused form that the page shows no more (the person's role
    may not act, the item is gone), read-only to copy: a refusal never loses what was
    typed. Empty for no note."""
    if not note:
        return ""
    return (
        '<label class="unsent">Your note, not sent:<textarea id="unsent" rows="3" readonly>'
        f"{escape(note)}</textarea></label>"
    )


def html_response(text: str, status: int = 200) -> web.Response:
    """A page: never cached, never framed."""
    return web.Response(
        text=text,
        status=status,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"},
    )


def see_other(location: str) -> web.Response:
    """303 to `location` (after a form is posted), never cached."""
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})
