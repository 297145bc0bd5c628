"""The console's policy page: the versions, live against shadow, and the admins' forms.

Server-rendered without script (reload to update); every value is escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from urllib.parse import quote

from withdrawguard.auth.roles import may
from withdrawguard.policy.shadow_tally import OUTCOMES, Difference, ShadowTally, Side
from withdrawguard.policy.versions import Catalog
from withdrawguard.web.console.html import layout
from withdrawguard.web.console.sessions import Session


@dataclass(frozen=True, slots=True)
class PolicyView:
    running: tuple[str, str | None]
    """The (live, shadow) version ids this worker's pipeline runs."""
    catalog: Catalog | None
    """The catalog as the policies topic says (None: not read yet)."""
    tally: ShadowTally


def policy_page(
    view: PolicyView,
    session: Session,
    csrf: str,
    flash: str = "",
    error: str = "",
    text: str = "",
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
    if may(session.role, "admin") and catalog is not None:
        parts.append(_forms(catalog, csrf, text))
    return layout("Policy", "".join(parts), session, csrf)


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
        f'<tr id="version-{escape(v.id)}"><td>{escape(v.id)} '
        f'<span class="muted">{roles.get(v.id, "")}</span></td><td>{escape(v.author)}</td>'
        f"<td>{escape(v.note)}</td><td>{_ms(v.published_at)}</td></tr>"
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


def _forms(catalog: Catalog, csrf: str, text: str) -> str:
    def form(action: str, label: str, extra: str = "") -> str:
        return (
            f'<form class="policy-act" id="form-{action}" method="post" action="/policy/actions">'
            f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
            f'<input type="hidden" name="action" value="{action}">{extra}'
            '<input name="note" required placeholder="note (required)" maxlength="2048">'
            f"<button>{escape(label)}</button></form>"
        )

    parts = ["<h2>Change the policy (admin)</h2>"]
    if catalog.shadow is not None:
        parts += [
            form("promote", f"Promote {catalog.shadow} to live"),
            form("shadow-off", f"Stop the shadow {catalog.shadow}"),
        ]
    older = [v for v in catalog.versions if v != catalog.live]
    if older:
        options = "".join(f'<option value="{escape(v)}">{escape(v)}</option>' for v in older)
        parts.append(form("rollback", "Make live", f'<select name="version">{options}</select>'))
    choice = "".join(
        f'<label><input type="radio" name="role" value="{r}"{" checked" if r == "shadow" else ""}>'
        f"{r}</label>"
        for r in ("shadow", "live")
    )
    area = (
        '<div><textarea name="text" rows="8" cols="80" required '
        f'placeholder="policy TOML (only what differs from the defaults)">{escape(text)}'
        f"</textarea></div>{choice}"
    )
    parts.append(form("publish", "Publish", area))
    return "".join(parts)
