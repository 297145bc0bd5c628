"""How each inbox stands against its SLA: the cases not closed, and how many of them are
past their due time. Counted from the store's indexes (one round trip an inbox), for the
gauges `withdrawguard_cases_open` and `withdrawguard_cases_past_due` and the alert
WithdrawguardCaseSlaBreached."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

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
