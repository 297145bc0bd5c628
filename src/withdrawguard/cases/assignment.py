"""Who works which case, and how much time is left.

- `take_next`: the unassigned case of an inbox the person may work that is due first.
  Cases someone has claimed are never offered. Two people taking next at once may be
  offered the same case; the claim carries the version they saw, so the second claim
  is refused (409) and its taker asks again with that case in `skip`.
- `next_analyst` / `auto_assign`: round-robin among the people available now (not
  "unavailable until" a later time) who may work the case's inbox.
- `sla`: due time, time left and whether it was breached, for a given now.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from withdrawguard.cases import events as ev
from withdrawguard.cases.case import Case
from withdrawguard.cases.events import SYSTEM, CaseEvent
from withdrawguard.cases.inboxes import InboxBook
from withdrawguard.cases.people import Actor, Analyst

PARKED = frozenset(("waiting_on_customer", "closed"))
"""Statuses take-next never offers: nothing to do until the customer or a reopen."""


@dataclass(frozen=True, slots=True)
class Sla:
    due_at: datetime
    left: timedelta
    """Negative once past due."""
    breached: bool
    """Past due while open, or closed after its due time."""


def sla(case: Case, now: datetime) -> Sla:
    end = case.closed_at if case.closed and case.closed_at is not None else now
    return Sla(case.due_at, case.due_at - now, end > case.due_at)


def breach_due(case: Case, now: datetime) -> list[CaseEvent]:
    """`sla_breached` for an open case at or past its due time whose breach at this due
    time was not recorded yet (its id names the due time: written once, paged once)."""
    if case.closed or now < case.due_at or case.breach_noticed == case.due_at:
        return []
    due_ms = int(case.due_at.timestamp() * 1000)
    return [
        ev.SlaBreached(
            case_id=case.case_id,
            event_id=f"{case.case_id}:sla-breached:{due_ms}",
            actor=SYSTEM,
            at=now,
            customer_id=case.customer_id,
            inbox=case.inbox,
            due_at=case.due_at,
        )
    ]


def breaches(cases: Iterable[Case], now: datetime) -> dict[str, int]:
    """Open cases past due, per inbox (for the metric and its alert)."""
    counts: dict[str, int] = {}
    for case in cases:
        if not case.closed and sla(case, now).breached:
            counts[case.inbox] = counts.get(case.inbox, 0) + 1
    return counts


def queue(cases: Iterable[Case], actor: Actor, inboxes: InboxBook) -> list[Case]:
    """The cases `actor` could take, the one due first first."""
    workable = inboxes.workable_by(actor)
    open_ = (
        c for c in cases if c.assignee is None and c.status not in PARKED and c.inbox in workable
    )
    return sorted(open_, key=lambda c: (c.due_at, c.opened_at, c.case_id))


def take_next(
    cases: Iterable[Case],
    actor: Actor,
    inboxes: InboxBook,
    *,
    inbox: str | None = None,
    skip: frozenset[str] = frozenset(),
) -> Case | None:
    """The case `actor` should claim next (of `inbox` only, if given), or None."""
    for case in queue(cases, actor, inboxes):
        if case.case_id not in skip and (inbox is None or case.inbox == inbox):
            return case
    return None


def next_analyst(
    case: Case,
    analysts: Sequence[Analyst],
    after: str | None,
    inboxes: InboxBook,
    now: datetime,
) -> Analyst | None:
    """Round-robin: the first available person, in name order, after `after` (the last
    one given a case of this inbox), wrapping round; None if nobody is available."""
    inbox = inboxes.get(case.inbox)
    if inbox is None:
        return None
    ready = sorted(
        (a for a in analysts if a.available_at(now) and inbox.may_work(a.actor)),
        key=lambda a: (a.actor.user.casefold(), a.actor.user),
    )
    if not ready:
        return None
    if after is not None:
        later = [a for a in ready if a.actor.user.casefold() > after.casefold()]
        if later:
            return later[0]
    return ready[0]


def auto_assign(
    case: Case,
    analysts: Sequence[Analyst],
    after: str | None,
    inboxes: InboxBook,
    now: datetime,
) -> list[CaseEvent]:
    """`assigned` (by the system) to the next analyst, for an open unassigned case."""
    if case.assignee is not None or case.status in PARKED:
        return []
    chosen = next_analyst(case, analysts, after, inboxes, now)
    if chosen is None:
        return []
    return [
        ev.Assigned(
            case_id=case.case_id,
            event_id=f"{case.case_id}:auto-assigned:{case.version}",
            actor=SYSTEM,
            at=now,
            assignee=chosen.actor.user,
            note="round-robin",
        )
    ]
