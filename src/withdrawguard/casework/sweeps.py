"""The worker's sweeps: what happens to cases with time alone, run by a timer.

- **Expiry**: proposals past their expiry and suppressions past `until` are recorded as
  `proposal_expired` / `suppression_expired` (`intake.expire_due`).
- **SLA breaches**: an open case at its due time gets `sla_breached`, once per due time
  (`assignment.breach_due`); the case-event notifications page it.
- **Auto-assignment**: the unassigned cases of inboxes marked `auto_assign = true` go
  round-robin to the people available (`assignment.auto_assign`): the users file's
  people who may work the inbox, less those "unavailable until" a later time (set by
  `withdrawguard cases away`, kept in the case store).

Each reads only the cases its index names (`adapters.case_index`: `deadlines`,
`sla-watch`, `queue:`), never a scan. With several workers, a sweep runs under a lock
of the case store (`sweep`, taken with SET NX and a TTL: the worker that holds it sweeps,
the others skip that round); and because each change is made under the customer's lock
on the case as it then stands, with an event id derived from the case, two sweeps at
once (a lock that lapsed mid-sweep) still write every change once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Protocol

from withdrawguard.auth.users import load_users
from withdrawguard.cases.assignment import auto_assign, breach_due
from withdrawguard.cases.case import Case
from withdrawguard.cases.events import Assigned, CaseEvent
from withdrawguard.cases.inboxes import Inbox, InboxBook
from withdrawguard.cases.intake import expire_due
from withdrawguard.cases.people import ROLES, Actor, Analyst, same_person
from withdrawguard.casework.service import CaseService

SWEEP_LOCK = "sweep"
SWEEP_LOCK_MS = 60_000
BATCH = 500
"""Cases each sweep changes at most per round (the rest wait for the next round)."""


class SweepStore(Protocol):
    async def expiring(self, now_ms: int, limit: int = BATCH) -> list[str]: ...
    async def past_due_unnoticed(self, now_ms: int, limit: int = BATCH) -> list[str]: ...
    async def queue(self, inbox: str, limit: int = 20) -> list[str]: ...
    async def away(self) -> dict[str, datetime]: ...
    async def last_assigned(self, inbox: str) -> str | None: ...
    async def set_last_assigned(self, inbox: str, user: str) -> None: ...
    async def lock(self, scope: str, ttl_ms: int) -> str | None: ...
    async def unlock(self, scope: str, token: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class Swept:
    """Events one round wrote, by sweep."""

    expired: int
    breached: int
    assigned: int


def people_of(users_file: Path | None) -> list[Actor]:
    """Who auto-assignment may give cases to: the users file's people, read each round
    (people come and go without a restart); `Analyst` leaves out those who may not work."""
    users = load_users(users_file).values()
    return [Actor(u.name, role) for u in users for role in ROLES if role == u.role]


class Sweeps:
    def __init__(
        self,
        service: CaseService,
        store: SweepStore,
        people: Callable[[], Sequence[Actor]],
        *,
        clock: Callable[[], datetime],
        lock_ms: int = SWEEP_LOCK_MS,
    ) -> None:
        self._service, self._store, self._people = service, store, people
        self._clock, self._lock_ms = clock, lock_ms

    async def run(self) -> Swept | None:
        """One round of every sweep, or None when another worker holds the sweep lock."""
        token = await self._store.lock(SWEEP_LOCK, self._lock_ms)
        if token is None:
            return None
        try:
            now = self._clock()
            return Swept(await self.expire(now), await self.breaches(now), await self.assign(now))
        finally:
            await self._store.unlock(SWEEP_LOCK, token)

    async def expire(self, now: datetime) -> int:
        written = 0
        for case_id in await self._store.expiring(_ms(now), BATCH):
            written += len(await self._service.sweep(case_id, partial(_expired, now=now)))
        return written

    async def breaches(self, now: datetime) -> int:
        written = 0
        for case_id in await self._store.past_due_unnoticed(_ms(now), BATCH):
            written += len(await self._service.sweep(case_id, partial(_breached, now=now)))
        return written

    async def assign(self, now: datetime) -> int:
        book = self._service.config.inboxes
        inboxes = [i for i in book.inboxes if i.auto_assign]
        if not inboxes:
            return 0
        away = await self._store.away()
        people = [Analyst(a, _until(away, a.user)) for a in self._people()]
        return sum([await self._assign(inbox, people, now) for inbox in inboxes])

    async def _assign(self, inbox: Inbox, people: list[Analyst], now: datetime) -> int:
        book, written = self._service.config.inboxes, 0
        after = await self._store.last_assigned(inbox.name)
        for case_id in await self._store.queue(inbox.name, BATCH):
            change = partial(_assigned, people=people, after=after, book=book, now=now)
            for event in await self._service.sweep(case_id, change):
                if isinstance(event, Assigned):
                    after = event.assignee
                    await self._store.set_last_assigned(inbox.name, after)
                    written += 1
        return written


def _expired(case: Case, *, now: datetime) -> list[CaseEvent]:
    return expire_due(case, now)


def _breached(case: Case, *, now: datetime) -> list[CaseEvent]:
    return breach_due(case, now)


def _assigned(
    case: Case, *, people: list[Analyst], after: str | None, book: InboxBook, now: datetime
) -> list[CaseEvent]:
    return auto_assign(case, people, after, book, now)


def _until(away: dict[str, datetime], user: str) -> datetime | None:
    return next((t for who, t in away.items() if same_person(who, user)), None)


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)
