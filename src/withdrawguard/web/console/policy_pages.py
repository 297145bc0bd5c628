"""The console's policy page: the versions, live against shadow, what the shadow
changes, the latest policy actions, and the admins' forms; and a version's text.

Server-rendered without script (reload to update); every value is escaped. A refused
action shows the page again with the error and what was typed in the form it came from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import quote

from withdrawguard.auth.roles import may
from withdrawguard.engine.policy import PolicyError
from withdrawguard.policy.audit import AuditEntry
from withdrawguard.policy.diff import changed_values
from withdrawguard.policy.shadow_tally import OUTCOMES, Difference, ShadowTally, Side
from withdrawguard.policy.versions import MAX_TEXT, Catalog, PolicyVersion
from withdrawguard.web.console.html import layout, unsent
from withdrawguard.web.console.sessions import Session

MAX_NOTE = 2048
"""The longest note the console accepts (the form's `maxlength`, checked again on post)."""


@dataclass(frozen=True, slots=True)
class PolicyView:
    running: tuple[str, str | None]
    """The (live, shadow) version ids this worker's pipeline runs."""
    catalog: Catalog | None
    """The catalog as the policies topic says (None: not read yet)."""
    tally: ShadowTally
    trail: Iterable[AuditEntry] = ()
    """The latest policy actions as the policy-audit topic says, in any order."""


@dataclass(frozen=True, slots=True)
class Typed:
    """What an admin typed into the form of a refused action, to show it again."""

    action: str = ""
    note: str = ""
    text: str = ""
    role: str = "shadow"
    version: str = ""


def typed(form: Mapping[str, Any]) -> Typed:
    def field(name: str) -> str:
        value = form.get(name)
        return value if isinstance(value, str) else ""

    role = field("role")
    return Typed(field("action"), field("note"), field("text"), role or "shadow", field("version"))


def policy_page(
    view: PolicyView,
    session: Session,
    csrf: str,
    flash: str = "",
    error: str = "",
    typed_in: Typed = Typed(),
) -> str:
    live, shadow = view.running
    parts = [
        "<h1>Policy</h1>",
        f'<p class="flash">{escape(flash)}</p>' if flash else "",
        f'<p class="flash error" id="error">{escape(error)}</p>' if error else "",
        '<p>This worker runs live <strong id="run-live">'
        f'{escape(live)}</strong>, shadow <strong id="run-shadow">{escape(shadow or "none")}'
        "</strong>.</p>",
    ]
    catalog = view.catalog
    if catalog is None:
        parts.append('<p class="muted">The policies topic has not been read yet.</p>')
    else:
        parts += [_pointers(catalog), _versions(catalog)]
    parts.append(_comparison(view.tally, live))
    if catalog is not None and catalog.shadow is not None:
        parts.append(_changes(catalog, catalog.shadow))
    parts.append(_trail(view.trail))
    shown: set[str] = set()
    if may(session.role, "admin") and (catalog is not None or typed_in.action):
        # Not read yet but refused: the forms still give back what was typed.
        forms, shown = _forms(catalog or Catalog(), csrf, typed_in)
        parts.append(forms)
    if error and typed_in.action not in shown:  # no form to give the note back in
        parts.insert(3, unsent(typed_in.note))
    return layout("Policy", "".join(parts), session, csrf)


def version_page(version: PolicyVersion, session: Session, csrf: str) -> str:
    """A published version's TOML text as published, with who published it and why."""
    body = (
        f"<h1>Policy version {escape(version.id)}</h1>"
        f"<p>Published by {escape(version.author)} at {_ms(version.published_at)} UTC: "
        f'{escape(version.note)}</p><pre id="policy-text">{escape(version.text)}</pre>'
        '<p><a href="/policy">Back to the policy page</a></p>'
    )
    return layout(f"Policy {version.id}", body, session, csrf)


def _ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _pointers(catalog: Catalog) -> str:
    rows = ""
    for role in ("live", "shadow"):
        p = catalog.pointers.get(role)
        if p is None:
            rows += f"<tr><td>{role}</td><td>none published</td><td></td><td></td><td></td></tr>"
            continue
        rows += (
            f'<tr id="pointer-{role}"><td>{role}</td><td>{escape(p.id or "none")}</td>'
            f"<td>{escape(p.actor)}</td><td>{escape(p.note)}</td><td>{_ms(p.at)}</td></tr>"
        )
    return (
        "<h2>The policies topic says</h2><table><thead><tr><th>Role</th><th>Version</th>"
        f"<th>Set by</th><th>Note</th><th>At (UTC)</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _versions(catalog: Catalog) -> str:
    ordered = sorted(catalog.versions.values(), key=lambda v: v.published_at, reverse=True)
    roles = {catalog.live: "live", catalog.shadow: "shadow"}
    rows = "".join(
        f'<tr id="version-{escape(v.id)}"><td><a href="/policy/versions/{escape(v.id)}">'
        f'{escape(v.id)}</a> <span class="muted">{roles.get(v.id, "")}</span></td>'
        f"<td>{escape(v.author)}</td><td>{escape(v.note)}</td><td>{_ms(v.published_at)}</td></tr>"
        for v in ordered
    )
    if not rows:
        return '<h2>Published versions</h2><p class="muted">None yet.</p>'
    return (
        "<h2>Published versions</h2><table><thead><tr><th>Version</th><th>Published by</th>"
        f"<th>Note</th><th>At (UTC)</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _comparison(tally: ShadowTally, running: str) -> str:
    if tally.shadow is None:
        return '<h2>Live against shadow</h2><p class="muted">No version runs in shadow.</p>'
    # No live version published yet: the workers run the policy they started with.
    live = tally.live or f"{running} (the policy the worker started with)"
    counts = "".join(
        f'<tr><td>{o}</td><td class="num" id="count-{o}">{tally.counts[o]}</td></tr>'
        for o in OUTCOMES
    )
    reasons = "".join(
        f"<tr><td>{o}</td><td>{escape(code)}</td><td class=num>{n}</td></tr>"
        for o in OUTCOMES
        for code, n in sorted(tally.reasons.get(o, {}).items())
    )
    rows = "".join(_difference(d) for d in tally.recent)
    return (
        f'<h2 id="pair">Live against shadow: {escape(live)} against {escape(tally.shadow)}, '
        f"since {_ms(tally.since_ms)} UTC</h2>"
        "<table><thead><tr><th>Outcome</th><th>Comparisons</th></tr></thead>"
        f"<tbody>{counts}</tbody></table>"
        "<h2>Disagreements by the holding side's reason</h2><table><thead><tr><th>Outcome</th>"
        f'<th>Reason</th><th>Count</th></tr></thead><tbody id="reasons">{reasons}</tbody></table>'
        f"<h2>The last {tally.recent.maxlen} withdrawals that differ, newest first</h2>"
        "<table><thead><tr><th>Decided at</th><th>Customer</th><th>Withdrawal</th>"
        "<th>Outcome</th><th>Live</th><th>Shadow</th></tr></thead>"
        f'<tbody id="differences">{rows}</tbody></table>'
    )


def _changes(catalog: Catalog, shadow: str) -> str:
    """The effective values the shadow changes, as `withdrawguard policy diff live shadow`."""
    head = "<h2>What the shadow changes</h2>"
    if catalog.live is None:
        return (
            f'{head}<p class="muted">No version is published live: the workers run the policy '
            "they started with, which the topic does not hold (compare it with "
            f"<code>withdrawguard policy diff FILE {escape(shadow)}</code>).</p>"
        )
    try:
        rows = changed_values(
            catalog.version(catalog.live).policy(), catalog.version(shadow).policy()
        )
    except (KeyError, PolicyError) as exc:
        return f'{head}<p class="error">{escape(str(exc))}</p>'
    body = "".join(
        f"<tr><td>{escape(k)}</td><td>{escape(a)}</td><td>{escape(b)}</td></tr>" for k, a, b in rows
    )
    return (
        f"{head}<table><thead><tr><th>Key</th><th>Live {escape(catalog.live)}</th>"
        f'<th>Shadow {escape(shadow)}</th></tr></thead><tbody id="changes">'
        f"{body or '<tr><td colspan=3>No value differs.</td></tr>'}</tbody></table>"
    )


def _trail(entries: Iterable[AuditEntry]) -> str:
    latest = sorted(entries, key=lambda e: e.at, reverse=True)
    head = "<h2>Policy actions, latest first</h2>"
    if not latest:
        return f'{head}<p class="muted">None yet.</p>'
    rows = "".join(
        f"<tr><td>{escape(e.when)}</td><td>{escape(e.action)}</td><td>{escape(e.role)}</td>"
        f"<td>{escape(e.previous or 'none')} -&gt; {escape(e.version or 'none')}</td>"
        f"<td>{escape(e.actor)}</td><td>{escape(e.note)}</td></tr>"
        for e in latest
    )
    return (
        f"{head}<table><thead><tr><th>At (UTC)</th><th>Action</th><th>Role</th>"
        "<th>Versions</th><th>By</th><th>Note</th></tr></thead>"
        f'<tbody id="trail">{rows}</tbody></table>'
    )


def _difference(d: Difference) -> str:
    link = f"/customers/{quote(d.customer_id, safe='')}"
    at = d.decided_at[:19].replace("T", " ")
    return (
        f'<tr id="diff-{escape(d.withdrawal_id)}"><td>{escape(at)}</td>'
        f'<td><a href="{escape(link)}">{escape(d.customer_id)}</a></td>'
        f"<td>{escape(d.withdrawal_id)}</td><td>{escape(d.outcome)}</td>"
        f'<td class="live">{_side(d.live)}</td><td class="shadow">{_side(d.shadow)}</td></tr>'
    )


def _side(s: Side) -> str:
    codes = ", ".join(s.reasons) or "no reasons"
    return f"<strong>{escape(s.decision)}</strong> score {s.risk_score}: {escape(codes)}"


def _forms(catalog: Catalog, csrf: str, typed: Typed) -> tuple[str, set[str]]:
    """The admin's forms, and the actions they are for."""
    shown: set[str] = set()

    def form(action: str, label: str, extra: str = "") -> str:
        shown.add(action)
        note = typed.note if typed.action == action else ""
        return (
            f'<form class="policy-act" id="form-{action}" method="post" action="/policy/actions">'
            f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
            f'<input type="hidden" name="action" value="{action}">{extra}'
            f'<input name="note" required placeholder="note (required)" maxlength="{MAX_NOTE}"'
            f' value="{escape(note)}"><button>{escape(label)}</button></form>'
        )

    parts = ["<h2>Change the policy (admin)</h2>"]
    if catalog.shadow is not None:
        parts += [
            form("promote", f"Promote {catalog.shadow} to live"),
            form("shadow-off", f"Stop the shadow {catalog.shadow}"),
        ]
    older = sorted(
        (v for v in catalog.versions.values() if v.id != catalog.live),
        key=lambda v: v.published_at,
        reverse=True,
    )
    if older:
        picked = typed.version if typed.action == "rollback" else ""
        options = "".join(
            f'<option value="{escape(v.id)}"{" selected" if v.id == picked else ""}>'
            f"{escape(_label(v))}</option>"
            for v in older
        )
        select = (
            '<label>Version to make live: <select name="version" required>'
            f"{options}</select></label>"
        )
        parts.append(form("rollback", "Make live", select))
    role = typed.role if typed.action == "publish" else "shadow"
    choice = "".join(
        f'<label><input type="radio" name="role" value="{r}"{" checked" if r == role else ""}>'
        f"{r}</label>"
        for r in ("shadow", "live")
    )
    text = typed.text if typed.action == "publish" else ""
    area = (
        f'<div><textarea name="text" rows="8" cols="80" required maxlength="{MAX_TEXT}" '
        f'placeholder="policy TOML (only what differs from the defaults)">{escape(text)}'
        f"</textarea></div>{choice}"
    )
    parts.append(form("publish", "Publish", area))
    return "".join(parts), shown


def _label(v: PolicyVersion) -> str:
    """A rollback choice: `6d36727c, published 2026-12-07 04:00:00 UTC by ada: note`."""
    note = v.note if len(v.note) <= 80 else v.note[:79] + "…"
    return f"{v.id}, published {_ms(v.published_at)} UTC by {v.author}: {note}"
