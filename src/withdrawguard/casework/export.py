"""A case for the file: JSON (the case, its holds, its customer's links to other
customers and every event as on the topic) and a printable HTML page (timeline, holds and
their fate, links, every action with actor and time, comments). Every text from the case
is escaped: notes are written by people, and the detector's ids come from producers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from withdrawguard.cases import codec
from withdrawguard.cases.case import Case
from withdrawguard.cases.events import SYSTEM, CaseEvent
from withdrawguard.cases.links import Link

_DETAIL_FIELDS = (
    "inbox", "assignee", "status", "outcome", "hold_id", "proposal_id", "expires_at",
    "due_at", "until", "suppression_id", "previous_case_id",
)  # fmt: skip


def export_json(
    case: Case, events: Sequence[CaseEvent], links: Sequence[Link] = ()
) -> dict[str, Any]:
    return {
        "case_id": case.case_id,
        "customer_id": case.customer_id,
        "inbox": case.inbox,
        "status": case.status,
        "outcome": case.outcome,
        "assignee": case.assignee,
        "severity": case.severity,
        "reason_codes": list(case.reason_codes),
        "opened_at": _time(case.opened_at),
        "due_at": _time(case.due_at),
        "closed_at": _time(case.closed_at) if case.closed_at else None,
        "version": case.version,
        "holds": [
            {
                "hold_id": h.hold_id,
                "withdrawal_id": h.withdrawal_id,
                "amount": format(h.amount, "f"),
                "currency": h.currency,
                "fate": h.fate,
            }
            for h in case.holds
        ],
        "links": [x.to_json() for x in links],
        "events": [codec.encode(e) for e in events],
    }


def export_html(case: Case, events: Sequence[CaseEvent], links: Sequence[Link] = ()) -> str:
    data = export_json(case, events, links)
    e = escape
    facts = "".join(
        f"<tr><th>{e(k.replace('_', ' '))}</th><td>{e(_shown(data[k]))}</td></tr>"
        for k in ("customer_id", "inbox", "status", "outcome", "assignee", "severity",
                  "reason_codes", "opened_at", "due_at", "closed_at", "version")
    )  # fmt: skip
    holds = "".join(
        f"<tr><td>{e(h['hold_id'])}</td><td>{e(_shown(h['withdrawal_id']))}</td>"
        f"<td class=num>{e(h['amount'])} {e(h['currency'])}</td><td>{e(h['fate'])}</td></tr>"
        for h in data["holds"]
    )
    linked = "".join(
        f"<tr><td>{e(x['kind'])}</td><td>{e(x['value'])}</td><td>{e(x['customer_id'])}</td>"
        f"<td>{e(x['last_seen'])}</td><td>{e(_shown(x['case_id']))}</td>"
        f"<td>{e(_shown(x['case_status']))}</td></tr>"
        for x in data["links"]
    )
    timeline = "".join(_row(obj) for obj in data["events"])
    comments = "".join(
        f"<li><b>{e(o['actor'])}</b>, {e(o['at'])}: <p>{e(o['note'])}</p></li>"
        for o in data["events"]
        if o["kind"] == "commented"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Case {e(case.case_id)}</title>
<style>
body {{ font: 11pt/1.4 system-ui, sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
th, td {{ border: 1px solid #999; padding: .2em .5em; text-align: left; vertical-align: top; }}
td.num {{ text-align: right; }} p {{ white-space: pre-wrap; margin: .2em 0; }}
@media print {{ body {{ margin: 0; }} }}
</style></head><body>
<h1>Case {e(case.case_id)}</h1>
<table>{facts}</table>
<h2>Holds and their fate</h2>
<table><tr><th>hold</th><th>withdrawal</th><th>amount</th><th>fate</th></tr>{holds}</table>
<h2>Links: other customers sharing a destination, IP or device</h2>
<table><tr><th>kind</th><th>value</th><th>customer</th><th>last seen</th><th>case</th>
<th>status</th></tr>{linked or "<tr><td colspan=6>none within the windows</td></tr>"}</table>
<h2>Timeline: every action, with actor and time</h2>
<table><tr><th>at</th><th>actor</th><th>event</th><th>details</th><th>note</th></tr>{timeline}</table>
<h2>Comments</h2>
<ul>{comments or "<li>none</li>"}</ul>
</body></html>
"""


def event_details(obj: Mapping[str, Any]) -> list[str]:
    """The lines a timeline shows for one encoded case event (`codec.encode`): its
    fields worth reading, the detector's news it carries, the reasons it mutes. The
    export and the console's case page show the same."""
    details = [f"{k.replace('_', ' ')}: {obj[k]}" for k in _DETAIL_FIELDS if obj.get(k)]
    trigger = obj.get("trigger")
    if trigger:
        amount = f" {trigger['amount']} {trigger['currency']}" if trigger.get("amount") else ""
        codes = ", ".join(trigger["reason_codes"])
        details.append(
            f"{trigger['kind']} {trigger['ref_id']}{amount} ({trigger['severity']}: {codes})"
        )
    if obj.get("reason_codes"):
        details.append("muted: " + ", ".join(obj["reason_codes"]))
    return details


def _row(obj: dict[str, Any]) -> str:
    e = escape
    details = event_details(obj)
    who = "the detector" if obj["actor"] == SYSTEM else obj["actor"]
    note = obj.get("note") or ""
    return (
        f"<tr><td>{e(obj['at'])}</td><td>{e(who)}</td><td>{e(obj['kind'])}</td>"
        f"<td>{'<br>'.join(e(d) for d in details)}</td><td><p>{e(note)}</p></td></tr>"
    )


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)


def _time(value: datetime) -> str:
    """As the codec writes times: UTC with Z."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
