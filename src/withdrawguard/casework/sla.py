"""How each inbox stands: the cases not closed (per status), how many are past their due
time, the oldest, the proposals waiting. Counted from the store's indexes (one round trip
an inbox), for the gauges `withdrawguard_cases_*` and `withdrawguard_case_proposal*` and
the alerts WithdrawguardCaseSlaBreached and WithdrawguardCaseProposalWaiting; and
`timings`, what an applied change tells the time-to-first-action and time-to-close
histograms."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from withdrawguard.cases.case import Case
from withdrawguard.cases.events import STATUSES
from withdrawguard.cases.inboxes import InboxBook


class DueCounts(Protocol):
    async def due_counts(self, inbox: str, now_ms: int) -> tuple[int, int]:
        """(cases not closed, those past their due time) of `inbox` at `now_ms`."""


async def sla_report(
    store: DueCounts, inboxes: InboxBook, now: datetime
) -> dict[str, tuple[int, int]]:
    """Inbox name -> (open cases, past due), for every inbox of the book."""
    now_ms = int(now.timestamp() * 1000)
    return {i.name: await store.due_counts(i.name, now_ms) for i in inboxes.inboxes}


OPEN_STATUSES = tuple(s for s in STATUSES if s != "closed")


@dataclass(frozen=True, slots=True)
class InboxReport:
    """An inbox in numbers at one time (the case metrics' gauges)."""

    inbox: str
    by_status: dict[str, int]
    """Cases not closed, per status (every open status, zeros included)."""
    past_due: int
    oldest_open_seconds: float
    """Age of the oldest case not closed; 0 when there is none."""
    proposals: int
    oldest_proposal_seconds: float
    """How long the oldest proposal waiting has waited; 0 when there is none."""

    @property
    def open_cases(self) -> int:
        return sum(self.by_status.values())


class InboxCounts(Protocol):
    async def inbox_report(
        self, inbox: str, statuses: Sequence[str], now_ms: int
    ) -> tuple[dict[str, int], int, int | None, int, int | None]: ...


async def case_report(store: InboxCounts, inboxes: InboxBook, now: datetime) -> list[InboxReport]:
    """Every inbox of the book in numbers, from the store's indexes (one round trip an
    inbox, whatever the number of cases)."""
    now_ms = int(now.timestamp() * 1000)
    reports = []
    for inbox in inboxes.inboxes:
        by_status, late, oldest, proposals, waited = await store.inbox_report(
            inbox.name, OPEN_STATUSES, now_ms
        )
        reports.append(
            InboxReport(
                inbox.name,
                by_status,
                late,
                _age(now_ms, oldest),
                proposals,
                _age(now_ms, waited),
            )
        )
    return reports


def timings(before: Case | None, after: Case | None) -> tuple[float | None, float | None]:
    """What applying events that turned `before` into `after` tells the histograms:
    (seconds from opening to a person's first action, if it just happened; seconds from
    opening to closing, if the case just closed)."""
    if after is None:
        return None, None
    first = None
    if after.first_action_at is not None and (before is None or before.first_action_at is None):
        first = (after.first_action_at - after.opened_at).total_seconds()
    closed = None
    if after.closed and after.closed_at is not None and (before is None or not before.closed):
        closed = (after.closed_at - after.opened_at).total_seconds()
    return first, closed


def _age(now_ms: int, since_ms: int | None) -> float:
    return 0.0 if since_ms is None else max(0.0, (now_ms - since_ms) / 1000)
