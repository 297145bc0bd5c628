"""The case service: people's commands, take next and the detector's news, executed
against a case store and written to `case-events`.

One customer's cases change one writer at a time: every change takes the customer's
lock in the store (SET NX PX with a token; a customer has at most one open case, and
intake may open a new one, so the customer is the unit, not the case). Under the lock:
load the case, `commands.decide` (or `intake`), write the events to `case-events` and
wait for the broker's acknowledgement, then the `case-decisions` they call for, then
apply the events to the store, then unlock. A refused command writes nothing.

A writer that dies after the acknowledgement leaves the store behind the topic until
the projection sink (streaming/sinks/case_projection.py) applies the events, and sends
their case decisions again (same decision ids: the detector takes them once), or until
the next writer of the customer settles its pending write (`writer.CaseWriter`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from withdrawguard.cases.case import Case, CaseFoldError
from withdrawguard.cases.commands import Claim, Command, decide
from withdrawguard.cases.errors import CaseError, Forbidden, NotFound
from withdrawguard.cases.events import CaseEvent, Trigger
from withdrawguard.cases.intake import intake
from withdrawguard.cases.links import Link
from withdrawguard.cases.people import Actor
from withdrawguard.cases.summary import Summary
from withdrawguard.casework.config import CaseConfig
from withdrawguard.casework.links import LinkReader
from withdrawguard.casework.locks import LOCK_TTL_MS, LOCK_WAIT, Busy, CustomerLocks, scope_of
from withdrawguard.casework.store import CaseStore
from withdrawguard.casework.writer import CaseWriter
from withdrawguard.contract.records import Produce

log = logging.getLogger(__name__)

TAKE_ATTEMPTS = 50
CANDIDATES = 20


@dataclass(frozen=True, slots=True)
class CaseTopics:
    """The concrete names of `case-events` and `case-decisions` for the deployment."""

    events: str
    decisions: str


@dataclass(frozen=True, slots=True)
class Done:
    """A command carried out: the case as it now stands and the events written."""

    case: Case
    events: tuple[CaseEvent, ...]
    decisions: int


class CaseService:
    def __init__(
        self,
        store: CaseStore,
        produce: Produce,
        topics: CaseTopics,
        config: CaseConfig,
        *,
        clock: Callable[[], datetime],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        new_id: Callable[[], str] = lambda: f"cmd-{uuid.uuid4().hex[:20]}",
        lock_ttl_ms: int = LOCK_TTL_MS,
        lock_wait: float = LOCK_WAIT,
        links: LinkReader | None = None,
    ) -> None:
        self.store, self.config = store, config
        self._links = links
        self._writer = CaseWriter(store, produce, topics.events, topics.decisions)
        self._clock, self._sleep, self._new_id = clock, sleep, new_id
        self._locks = CustomerLocks(store, lock_ttl_ms, lock_wait, sleep)

    def new_command_id(self) -> str:
        return self._new_id()

    # ------------------------------------------------------------ reading

    async def case(self, case_id: str) -> Case:
        found = await self.store.case(case_id)
        if found is None:
            raise NotFound(f"no case {case_id}")
        return found

    async def events(self, case_id: str) -> list[CaseEvent]:
        found = await self.store.events(case_id)
        if not found:
            raise NotFound(f"no case {case_id}")
        return found

    async def listing(self, inbox: str | None = None, limit: int = 100) -> list[Summary]:
        """The open cases of `inbox`, due first; without one, every case, oldest first."""
        if inbox is None:
            return await self.store.summaries(await self.store.case_ids(limit))
        if self.config.inboxes.get(inbox) is None:
            raise NotFound(f"no inbox {inbox}")
        return await self.store.summaries(await self.store.inbox(inbox, 0, limit))

    async def mine(self, actor: Actor, limit: int = 100) -> list[Summary]:
        return await self.store.summaries(await self.store.assigned_to(actor.user, limit))

    async def current_case_of(self, customer_id: str) -> str | None:
        """The customer's open case, else their latest; None when they have none."""
        cases = await self.store.cases_of(customer_id)
        if not cases:
            return None
        current = max(cases, key=lambda c: (not c.closed, c.opened_at, c.case_id))
        return current.case_id

    @property
    def keeps_links(self) -> bool:
        """Whether this service reads the links projection (the worker's always does)."""
        return self._links is not None

    async def links_of(self, customer_id: str, now: datetime) -> list[Link]:
        """Other customers sharing a destination, a source IP or a device with the customer
        within the rules' windows, each with their current case (`casework.links`)."""
        if self._links is None:
            raise RuntimeError("this case service was built without the links projection")
        return await self._links.for_customer(customer_id, now)

    # ------------------------------------------------------------ people

    async def execute(self, actor: Actor, command: Command) -> Done:
        """Carry out `command` for `actor`; a CaseError (403/400/404/409) if refused."""
        found = await self.store.summaries([command.case_id])  # whose lock to take
        if not found:
            raise NotFound(f"no case {command.case_id}")
        customer = found[0].customer_id
        token = await self._locks.held(customer)
        try:
            await self._writer.settle(scope_of(customer))
            case = await self.case(command.case_id)  # as it stands under the lock
            return await self._write(customer, case, self._decide(case, actor, command))
        finally:
            await self._locks.release(customer, token)

    async def take_next(self, actor: Actor, inbox: str | None = None) -> Case | None:
        """Claim the unassigned case due first in `inbox` (or any inbox `actor` may
        work), or None. Never the case another caller is taking at the same moment: a
        case whose customer is locked is passed over, and under the lock a case claimed
        meanwhile is refused by `decide` and passed over too."""
        names = self._workable(actor, inbox)
        skip: set[str] = set()
        attempts = 0
        while attempts < TAKE_ATTEMPTS:
            candidates = await self._candidates(names, skip)
            if not candidates:
                return None
            for candidate in candidates[: TAKE_ATTEMPTS - attempts]:
                attempts += 1
                skip.add(candidate.case_id)
                token = await self._locks.take(candidate.customer_id, wait=0)
                if token is None:
                    continue  # being taken or changed: the next one, not a re-read
                try:
                    taken = await self._claim(candidate, actor)
                finally:
                    await self._locks.release(candidate.customer_id, token)
                if taken is not None:
                    return taken
        return None

    async def _claim(self, candidate: Summary, actor: Actor) -> Case | None:
        """Claim the candidate for `actor` holding its customer's lock; None if it was
        claimed (or changed so it cannot be) since it was offered."""
        await self._writer.settle(scope_of(candidate.customer_id))
        case = await self.store.case(candidate.case_id)
        if case is None or case.assignee is not None:
            return None
        claim = Claim(case_id=case.case_id, command_id=self._new_id(), seen_version=case.version)
        try:
            events = self._decide(case, actor, claim)
        except CaseError:
            return None
        try:
            return (await self._write(candidate.customer_id, case, events)).case
        except Busy:
            return None

    def _decide(self, case: Case, actor: Actor, command: Command) -> list[CaseEvent]:
        """What `command` writes to the case as it stands, under this deployment's case
        policy and inboxes (CaseError if refused)."""
        return decide(
            case,
            actor,
            command,
            now=self._clock(),
            policy=self.config.policy,
            inboxes=self.config.inboxes,
        )

    def _workable(self, actor: Actor, inbox: str | None) -> list[str]:
        book = self.config.inboxes
        if inbox is None:
            return sorted(book.workable_by(actor))
        found = book.get(inbox)
        if found is None:
            raise NotFound(f"no inbox {inbox}")
        if not found.may_work(actor):
            raise Forbidden(f"inbox {inbox} is not one {actor.user} may work")
        return [inbox]

    async def _candidates(self, inboxes: Sequence[str], skip: set[str]) -> list[Summary]:
        """The next cases take-next may offer from `inboxes`, due first, `skip` left
        out: a batch, so that a caller passing over cases others are taking tries the
        next with one lock call, not a re-read of the queues (callers would otherwise
        herd on the head of the queue, and the slower ones never get a case)."""
        found: list[Summary] = []
        for name in inboxes:
            ids = [c for c in await self.store.queue(name, len(skip) + CANDIDATES) if c not in skip]
            found.extend(await self.store.summaries(ids[:CANDIDATES]))
        found.sort(key=lambda s: (s.due_at, s.opened_at, s.case_id))
        return found[:CANDIDATES]

    # ------------------------------------------------------------ the detector's news

    async def intake(self, customer_id: str, news: Trigger) -> list[CaseEvent]:
        """Open or join the customer's case with the detector's news (idempotent: the
        same news gives the same event ids, which the store applies once)."""
        token = await self._locks.held(customer_id)
        try:
            await self._writer.settle(scope_of(customer_id))
            cases = await self.store.cases_of(customer_id)
            if news.hold_status == "held" and any(c.hold(news.ref_id) for c in cases):
                return []  # a hold re-issued as held (new reasons): its fate is unchanged
            events = intake(
                cases, customer_id, news, now=self._clock(), inboxes=self.config.inboxes
            )
            if not events:
                return []
            before = next((c for c in cases if c.case_id == events[0].case_id), None)
            await self._write(customer_id, before, events)
            return events
        finally:
            await self._locks.release(customer_id, token)

    async def project(self, event: CaseEvent) -> bool:
        """Apply one event read back from `case-events` (the projection sink); if it
        was new to the store, send the case decisions it calls for. False if it was
        applied before, or cannot follow the case as stored (logged, skipped)."""
        try:
            applied = await self.store.apply([event])
        except CaseFoldError as exc:
            log.error("case event %s cannot be applied: %s", event.event_id, exc)
            return False
        if not applied.new:
            return False
        await self._writer.send_decisions(applied.before, applied.new)
        return True

    async def sweep(
        self, case_id: str, change: Callable[[Case], list[CaseEvent]]
    ) -> list[CaseEvent]:
        """Write what `change` makes of the case as it stands under its customer's lock:
        the worker's sweeps (expiry, SLA breaches, auto-assignment), whose event ids
        derive from the case, so two sweepers write each change once."""
        found = await self.store.summaries([case_id])
        if not found:
            return []
        customer = found[0].customer_id
        token = await self._locks.held(customer)
        try:
            await self._writer.settle(scope_of(customer))
            case = await self.store.case(case_id)
            events = change(case) if case is not None else []
            if events:
                await self._write(customer, case, events)
            return events
        finally:
            await self._locks.release(customer, token)

    # ------------------------------------------------------------ writing

    async def _write(
        self, customer_id: str, before: Case | None, events: Sequence[CaseEvent]
    ) -> Done:
        applied, sent = await self._writer.write(scope_of(customer_id), before, events)
        assert applied.after is not None
        return Done(applied.after, tuple(events), sent)
