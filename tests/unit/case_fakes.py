"""In-memory stand-ins for the case service's I/O (no tests here): a case store with the
Redis store's semantics (idempotent apply by event id, indexes, owner-token locks) and a
producer that records what it is given and acknowledges at once (or fails)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from withdrawguard.adapters.case_index import ms, next_deadline
from withdrawguard.cases import codec
from withdrawguard.cases.case import Case, apply, rebuild
from withdrawguard.cases.events import CaseEvent
from withdrawguard.cases.summary import Summary, summary_of
from withdrawguard.casework.config import CaseConfig
from withdrawguard.casework.links import LinkReader
from withdrawguard.casework.service import CaseService, CaseTopics
from withdrawguard.contract.records import Record

TOPICS = CaseTopics("case-events", "case-decisions")


@dataclass(frozen=True)
class Applied:
    before: Case | None
    after: Case | None
    new: tuple[CaseEvent, ...]


@dataclass
class FakeCaseStore:
    logs: dict[str, list[bytes]] = field(default_factory=dict)
    locks: dict[str, str] = field(default_factory=dict)
    tokens: itertools.count[int] = field(default_factory=itertools.count)
    pendings: dict[str, list[CaseEvent]] = field(default_factory=dict)
    away_until: dict[str, datetime] = field(default_factory=dict)
    last: dict[str, str] = field(default_factory=dict)

    # the sweeps' reads, as the Redis store's indexes answer them (here by a scan)

    async def expiring(self, now_ms: int, limit: int = 500) -> list[str]:
        due = [(d, c.case_id) for c in self._cases() if (d := next_deadline(c)) is not None]
        return [cid for d, cid in sorted(due) if ms(d) <= now_ms][:limit]

    async def past_due_unnoticed(self, now_ms: int, limit: int = 500) -> list[str]:
        found = sorted(
            (c.due_at, c.case_id)
            for c in self._cases()
            if not c.closed and c.breach_noticed != c.due_at and ms(c.due_at) <= now_ms
        )
        return [cid for _, cid in found][:limit]

    async def away(self) -> dict[str, datetime]:
        return dict(self.away_until)

    async def set_away(self, user: str, until: datetime) -> None:
        self.away_until[user.strip().casefold()] = until

    async def clear_away(self, user: str) -> bool:
        return self.away_until.pop(user.strip().casefold(), None) is not None

    async def last_assigned(self, inbox: str) -> str | None:
        return self.last.get(inbox)

    async def set_last_assigned(self, inbox: str, user: str) -> None:
        self.last[inbox] = user

    async def pend(self, scope: str, events: Sequence[CaseEvent]) -> None:
        self.pendings[scope] = list(events)
        if not events:
            del self.pendings[scope]

    async def pending(self, scope: str) -> list[CaseEvent]:
        return list(self.pendings.get(scope, []))

    async def apply(self, events: Sequence[CaseEvent], *, settles: str | None = None) -> Applied:
        case_id = events[0].case_id
        log = self.logs.get(case_id, [])
        before = rebuild(codec.decode_bytes(r) for r in log) if log else None
        seen = {codec.decode_bytes(r).event_id for r in log}
        new = []
        after = before
        for e in events:
            if e.event_id not in seen:
                seen.add(e.event_id)
                after = apply(after, e)  # CaseFoldError before anything is kept
                new.append(e)
        self.logs[case_id] = [*log, *(codec.encode_bytes(e) for e in new)]
        if settles is not None:
            self.pendings.pop(settles, None)
        return Applied(before, after, tuple(new))

    def _cases(self) -> list[Case]:
        return [rebuild(codec.decode_bytes(r) for r in log) for log in self.logs.values()]

    async def events(self, case_id: str) -> list[CaseEvent]:
        return [codec.decode_bytes(r) for r in self.logs.get(case_id, [])]

    async def case(self, case_id: str) -> Case | None:
        log = self.logs.get(case_id)
        return rebuild(codec.decode_bytes(r) for r in log) if log else None

    async def summaries(self, case_ids: Sequence[str]) -> list[Summary]:
        return [summary_of(c) for cid in case_ids if (c := await self.case(cid)) is not None]

    async def case_ids(self, limit: int = 10_000) -> list[str]:
        return [c.case_id for c in sorted(self._cases(), key=lambda c: c.opened_at)][:limit]

    async def inbox(self, inbox: str, offset: int = 0, limit: int = 100) -> list[str]:
        found = [c for c in self._cases() if c.inbox == inbox and not c.closed]
        return [c.case_id for c in sorted(found, key=lambda c: c.due_at)][offset : offset + limit]

    async def queue(self, inbox: str, limit: int = 20) -> list[str]:
        found = [s for c in self._cases() if (s := summary_of(c)).inbox == inbox and s.takeable]
        return [s.case_id for s in sorted(found, key=lambda s: s.due_at)][:limit]

    async def assigned_to(self, user: str, limit: int = 100) -> list[str]:
        return [c.case_id for c in self._cases() if c.assignee == user and not c.closed][:limit]

    async def cases_of(self, customer_id: str) -> list[Case]:
        return [c for c in self._cases() if c.customer_id == customer_id]

    async def lock(self, scope: str, ttl_ms: int) -> str | None:
        if scope in self.locks:
            return None
        token = self.locks[scope] = f"t{next(self.tokens)}"
        return token

    async def unlock(self, scope: str, token: str) -> bool:
        if self.locks.get(scope) != token:
            return False
        del self.locks[scope]
        return True


@dataclass
class FakeProducer:
    """Records every record; `fail_on` (a topic) makes the acknowledgement fail there."""

    records: list[Record] = field(default_factory=list)
    fail_on: str | None = None

    async def __call__(self, record: Record) -> Any:
        self.records.append(record)
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if record[0] == self.fail_on:
            ack.set_exception(RuntimeError("broker down"))
        else:
            ack.set_result(None)
        return ack

    def values(self, topic: str) -> list[dict[str, Any]]:
        return [orjson.loads(r[2]) for r in self.records if r[0] == topic]


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def service(
    config: CaseConfig,
    now: datetime,
    store: FakeCaseStore | None = None,
    links: LinkReader | None = None,
) -> tuple[CaseService, FakeCaseStore, FakeProducer, Clock]:
    store = store or FakeCaseStore()
    producer, clock = FakeProducer(), Clock(now)
    ids = itertools.count(1)

    async def no_sleep(_seconds: float) -> None:
        await asyncio.sleep(0)

    svc = CaseService(
        store,
        producer,
        TOPICS,
        config,
        clock=clock,
        sleep=no_sleep,
        new_id=lambda: f"cmd-{next(ids)}",
        lock_wait=0.1,
        links=links,
    )
    return svc, store, producer, clock
