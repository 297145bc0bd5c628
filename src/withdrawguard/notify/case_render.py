"""What a case-event notification says: built from a `case-events` payload (as
`cases.codec.encode` writes it) and the case in brief (customer, inbox, status), for
people. An SLA breach says which case, whose, which inbox, how late, and links to the
case in the console; any other kind says what happened, by whom, when, with its note."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from withdrawguard.notify.render import Message


def case_link(console_url: str, case_id: str) -> str:
    return f"{console_url.rstrip('/')}/cases/{quote(case_id, safe='')}"


def late_by(due_at: str, at: str) -> str:
    """How late `at` is after `due_at` (RFC 3339 both), as `1 h 05 min` or `3 min 20 s`."""
    try:
        late = datetime.fromisoformat(at) - datetime.fromisoformat(due_at)
    except ValueError:
        return "unknown"
    return _span(max(late, timedelta(0)))


def render_case_event(event: dict[str, Any], case: dict[str, str], console_url: str) -> Message:
    kind, case_id = str(event.get("kind", "")), str(event.get("case_id", ""))
    customer = str(event.get("customer_id") or case.get("customer_id") or "-")
    inbox = str(event.get("inbox") or case.get("inbox") or "-")
    link = case_link(console_url, case_id)
    footer = f"withdrawguard case event {event.get('event_id', '?')}"
    if kind == "sla_breached":
        due, at = str(event.get("due_at", "")), str(event.get("at", ""))
        late = late_by(due, at)
        return Message(
            title=f"[HIGH] Case {case_id} is past its SLA: customer {customer}, inbox {inbox}",
            severity="high",
            headline=(
                f"Case {case_id} of customer {customer} in inbox {inbox} was still open at its "
                f"due time {due}; {late} late when noticed. A held withdrawal is a customer's "
                "money not arriving: take the case."
            ),
            fields=(
                ("Case", case_id),
                ("Customer", customer),
                ("Inbox", inbox),
                ("Due", due),
                ("Late by", late),
                ("Noticed", at),
            ),
            reasons=(),
            link=link,
            footer=footer,
        )
    actor = str(event.get("actor", "-"))
    fields = [("Case", case_id), ("Customer", customer), ("Inbox", inbox), ("By", actor)]
    fields += [("When", str(event.get("at", "-"))), ("Status", case.get("status", "-"))]
    for key in ("assignee", "status", "outcome", "hold_id", "proposal_id", "note"):
        if event.get(key):
            fields.append((key.replace("_", " ").capitalize(), str(event[key])))
    return Message(
        title=f"Case {case_id}: {kind.replace('_', ' ')} by {actor}",
        severity="info",
        headline=f"{kind.replace('_', ' ').capitalize()} on case {case_id} of customer {customer}.",
        fields=tuple(fields),
        reasons=(),
        link=link,
        footer=footer,
    )


def _span(d: timedelta) -> str:
    seconds = int(d.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s"
