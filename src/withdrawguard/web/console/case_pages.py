"""What the case pages show, as plain values for their templates (`inbox.html`,
`case.html`): pure, the service's answers, the person and "now" in, a context out.

Forms are shown to the people who may act (not viewers); whether an action is allowed
on this case right now is the domain's to say when it is posted, with the reason."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from withdrawguard.cases import codec
from withdrawguard.cases.assignment import sla
from withdrawguard.cases.case import Case
from withdrawguard.cases.events import OUTCOMES, STATUSES, SYSTEM, CaseEvent
from withdrawguard.cases.inboxes import InboxBook, reason_codes
from withdrawguard.cases.people import Actor
from withdrawguard.cases.summary import Summary
from withdrawguard.cases.suppressions import UNMUTABLE
from withdrawguard.casework.export import event_details
from withdrawguard.web.console.case_forms import Typed

MINE = "mine"
OPEN_STATUSES = tuple(s for s in STATUSES if s != "closed")


@dataclass(frozen=True, slots=True)
class Message:
    """What the page says above its content: done (`flash`) or refused (`error`, with
    the HTTP status it was refused with)."""

    flash: str = ""
    error: str = ""
    status: int = 200
    typed: Typed = field(default_factory=Typed)


@dataclass(frozen=True, slots=True)
class Row:
    summary: Summary
    left: timedelta
    past_due: bool


def tabs_for(actor: Actor, book: InboxBook) -> list[str]:
    """The inboxes whose tabs the person sees: those they may work; supervisors, admins
    and viewers (who read everything and act on nothing) see every inbox."""
    if actor.may("see_all") or not actor.may("work"):
        return [i.name for i in book.inboxes]
    mine = book.workable_by(actor)
    return [i.name for i in book.inboxes if i.name in mine]


def rows_of(found: Sequence[Summary], now: datetime, status: str | None) -> list[Row]:
    return [
        Row(s, s.due_at - now, not s.closed and s.due_at < now)
        for s in found
        if status is None or s.status == status
    ]


def inbox_context(
    actor: Actor,
    book: InboxBook,
    tab: str,
    rows: Sequence[Row],
    status: str | None,
    people: Mapping[str, str],
    message: Message,
) -> dict[str, Any]:
    inbox = book.get(tab)
    return {
        "title": "Cases: my cases" if tab == MINE else f"Cases: {tab}",
        "tab": tab,
        "tabs": tabs_for(actor, book),
        "inbox": inbox,
        "rows": rows,
        "status": status or "",
        "statuses": STATUSES,
        "outcomes": OUTCOMES,
        "acts": actor.may("work"),
        "assigns": actor.may("assign"),
        "may_take": tab == MINE or (inbox is not None and inbox.may_work(actor)),
        "people": sorted(n for n, r in people.items() if r != "viewer"),
        "message": message,
        "unsent": message.typed.note if not actor.may("work") else "",  # no bulk form
    }


def case_context(
    case: Case,
    events: Sequence[CaseEvent],
    actor: Actor,
    now: datetime,
    people: Mapping[str, str],
    message: Message,
) -> dict[str, Any]:
    due = sla(case, now)
    forms = offered(case, actor)
    typed = message.typed
    return {
        "title": f"Case {case.case_id}",
        "case": case,
        "sla": due,
        "past_due": due.breached and not case.closed,
        "forms": forms,
        "unsent": typed.note if (typed.action, typed.key) not in forms else "",
        "holds": case.holds,
        "timeline": [timeline_row(e) for e in events],
        "acts": actor.may("work"),
        "assigns": actor.may("assign"),
        "mine": actor.is_user(case.assignee),
        "people": sorted(n for n, r in people.items() if r != "viewer"),
        "statuses": [s for s in OPEN_STATUSES if s != case.status],
        "outcomes": OUTCOMES,
        "reasons": sorted(reason_codes() - UNMUTABLE),  # the mutable ones only
        "now": now,
        "message": message,
    }


def offered(case: Case, actor: Actor) -> frozenset[tuple[str, str]]:
    """The forms the case page shows the person, as (action, key): the key names the hold
    or proposal of a per-item form. None for a viewer; the domain still says, when one is
    posted, whether the action is allowed."""
    if not actor.may("work"):
        return frozenset()
    proposed = {p.hold_id for p in case.proposals if p.hold_id}
    forms = {("comment", ""), ("suppress", "")}
    forms |= {("release", h.hold_id) for h in case.holds if h.fate == "held"}
    forms -= {("release", hold_id) for hold_id in proposed}
    for p in case.proposals:
        forms |= {("approve", p.proposal_id), ("withdraw", p.proposal_id)}
    if case.closed:
        forms.add(("reopen", ""))
    else:
        forms |= {("assign", ""), ("status", ""), ("close", "")}
        forms.add(("unassign", "") if case.assignee else ("claim", ""))
    return frozenset(forms)


def timeline_row(event: CaseEvent) -> dict[str, Any]:
    """An event as the timeline shows it: when, who, what, the details and the note."""
    body = codec.encode(event)
    details = event_details(body)
    return {
        "at": event.at,
        "actor": "the detector" if event.actor == SYSTEM else event.actor,
        "kind": event.kind,
        "details": details,
        "note": body.get("note") or "",
    }
