"""The console's HTML: sign-in, open holds and alerts, a customer's timeline.

Server-rendered; every value is escaped. Inline CSS and JavaScript only (no CDN).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from html import escape
from urllib.parse import quote

from withdrawguard.auth.roles import may
from withdrawguard.web.console import scripts
from withdrawguard.web.console.actions import MAX_NOTE
from withdrawguard.web.console.html import layout, unsent
from withdrawguard.web.console.sessions import Session
from withdrawguard.web.console.timeline import Entry


def login_page(error: str = "", user: str = "") -> str:
    flash = f'<p class="flash error">{escape(error)}</p>' if error else ""
    body = (
        '<form class="login" method="post" action="/login"><h1>Sign in</h1>'
        f'{flash}<label>User<input name="user" value="{escape(user)}" autocomplete="username" '
        'required autofocus></label><label>Password<input name="password" type="password" '
        'autocomplete="current-password" required></label><button>Sign in</button></form>'
    )
    return layout("Sign in", body, None)


def overview_page(session: Session, csrf: str) -> str:
    body = (
        '<h1>Open holds (<span id="holds-count">…</span>) '
        '<span class="muted" id="updated"></span></h1>'
        "<table><thead><tr><th>Customer</th><th>Withdrawal</th><th>Amount</th>"
        "<th>Destination</th><th>Reasons</th><th>Age</th><th></th></tr></thead>"
        '<tbody id="holds"></tbody></table>'
        "<h2>Recent alerts, most severe first</h2>"
        "<table><thead><tr><th>Severity</th><th>At (UTC)</th><th>Customer</th><th>Rules</th>"
        '<th>Summary</th></tr></thead><tbody id="alerts"></tbody></table>'
    )
    js = scripts.OVERVIEW_ANALYST if may(session.role, "analyst") else scripts.OVERVIEW_VIEWER
    return layout("Holds and alerts", body, session, csrf, js)


def customer_page(
    customer_id: str,
    entries: list[Entry],
    session: Session,
    csrf: str,
    flash: str = "",
    four_eyes: Collection[str] = (),
    error: str = "",
    typed: Mapping[str, str] | None = None,
    refused_row: str = "",
) -> str:
    """`four_eyes`: the withdrawals whose release takes two people (released in the case);
    `error`: why the action just posted was refused, shown above the page and at the form
    of `refused_row` (a withdrawal id or change event id), with the note `typed` kept in
    the form it came from (keyed by row), or shown read-only when the page has no such
    form (the role may not act, the row is gone)."""
    acts = may(session.role, "analyst")
    kept = typed or {}
    rows = "".join(
        _row(customer_id, e, csrf, acts, four_eyes, kept, error if _key(e) == refused_row else "")
        for e in entries
    )
    formed = {k for e in entries if (k := _key(e))} if acts else set()
    note = f'<p class="flash">{escape(flash)}</p>' if flash else ""
    if error:
        lost = "".join(text for row, text in kept.items() if row not in formed)
        note += f'<p class="flash error" id="error">{escape(error)}</p>{unsent(lost)}'
    empty = '<p class="muted">The detector holds no history for this customer.</p>'
    body = (
        f"<h1>Customer {escape(customer_id)}</h1>{note}"
        '<p class="muted">Recent events, newest first, from the detector\'s state, and '
        "whatever their age the events behind an open hold; the notices sent to the "
        "customer and the customer's answers, with whether each answer counted. "
        "Highlighted rows are evidence behind a verdict.</p>"
        + (
            "<table><thead><tr><th>At (UTC)</th><th>Event</th><th>What</th>"
            f"<th>Evidence / verdict</th><th></th></tr></thead><tbody>{rows}</tbody></table>"
            if entries
            else empty
        )
    )
    return layout(f"Customer {customer_id}", body, session, csrf, scripts.CUSTOMER)


def _key(e: Entry) -> str:
    """The row's action form's key: the withdrawal's id, or the change event's id for a
    destination to verify; "" for a row without a form."""
    if e.withdrawal is not None:
        return str(e.withdrawal["withdrawal_id"])
    return e.event_id if e.destination_key is not None else ""


def _row(
    customer_id: str,
    e: Entry,
    csrf: str,
    acts: bool,
    four_eyes: Collection[str],
    typed: Mapping[str, str],
    error: str,
) -> str:
    cls = ' class="evidence"' if e.evidence_for else ""
    tags = "".join(
        f"<div>evidence for {escape(wid)}: {_tags(codes)}</div>" for wid, codes in e.evidence_for
    )
    verdict, form = "", ""
    w = e.withdrawal
    kept = typed.get(_key(e), "")
    if w is not None:
        reasons = "".join(
            f"<li><span class=tag>{escape(r['code'])}</span> {escape(r['detail'])}</li>"
            for r in w["reasons"]
        )
        wid = escape(w["withdrawal_id"])
        verdict = (
            f"<div>verdict <strong>{escape(w['decision'])}</strong>, score {w['risk_score']}, "
            f"{escape(w['severity'])}</div><ul>{reasons}</ul>"
            f'<div>registry: <span class="status" data-wid="{wid}">'
            f"{escape(w['hold'] or 'no hold')}</span></div>"
        )
        if acts:
            releasable = w["hold"] in ("held", "confirmed_fraud")
            two = releasable and w["withdrawal_id"] in four_eyes
            hidden = f'<input type="hidden" name="withdrawal_id" value="{wid}">'
            knobs = _RELEASABLE if releasable and not two else _CONFIRM_ONLY
            form = _form(customer_id, csrf, hidden, knobs, kept, error)
            form += _in_case(customer_id) if two else ""
    elif e.destination_key is not None and acts:
        hidden = f'<input type="hidden" name="change_event_id" value="{escape(e.event_id)}">'
        verify = (("verify_destination", "Verify destination"),)
        form = _form(customer_id, csrf, hidden, verify, kept, error)
    if e.answer:
        verdict = f'<div class="answer">answer <strong>{escape(e.answer)}</strong></div>'
    return (
        f"<tr{cls}><td>{escape(e.at[:19].replace('T', ' '))}</td><td>{escape(e.kind)}"
        f'<div class="muted">{escape(e.event_id)}</div></td><td>{escape(e.summary)}</td>'
        f"<td>{tags}{verdict}</td><td>{form}</td></tr>"
    )


_RELEASABLE = (("release", "Release hold"), ("confirm_fraud", "Confirm fraud"))
_CONFIRM_ONLY = (("confirm_fraud", "Confirm fraud"),)


def _form(
    customer_id: str,
    csrf: str,
    hidden: str,
    buttons: tuple[tuple[str, str], ...],
    note: str = "",
    error: str = "",
) -> str:
    """A row's action form; `error`: why this form's action was just refused, said at the
    form, whose note field takes the focus (the browser scrolls to it)."""
    action = f"/customers/{quote(customer_id, safe='')}/actions"
    knobs = "".join(
        f'<button name="action" value="{v}">{escape(label)}</button>' for v, label in buttons
    )
    said = f'<div class="flash error">{escape(error)}</div>' if error else ""
    return (
        f'<form class="act" method="post" action="{escape(action)}">{said}'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">{hidden}'
        f'<input name="note" required placeholder="note (required)" maxlength="{MAX_NOTE}" '
        f'value="{escape(note)}"{" autofocus" if error else ""}>{knobs}</form>'
    )


def _in_case(customer_id: str) -> str:
    href = escape(f"/cases/of/{quote(customer_id, safe='')}")
    return f'<a class="four-eyes" href="{href}">Release: four eyes, in the case</a>'


def _tags(codes: list[str]) -> str:
    return "".join(f'<span class="tag">{escape(c)}</span>' for c in codes)
