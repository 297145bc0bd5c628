"""Writing a case's events: to `case-events` (acknowledged), then the case decisions
they call for, then the store, always under the customer's lock (`service.CaseService`).

A writer can die between the broker's acknowledgement and the store write (SIGKILL, a
lost pod). The projection sink repairs the store from the topic, but only once it has
read that far: a writer that takes the customer's lock after the dead one's has expired,
with the projection behind (the worker down too), would decide on a case that lacks the
dead writer's events, and write after them in the topic but before them in the store;
and the intake, reading its news again, would write the same event ids a second time
with another time in them. (The fault suite's `test_case_faults.py` showed both.)

So a write first leaves its events as the scope's **pending** write in the store, and
the store write that applies them clears it in the same transaction. Whoever takes the
lock next settles a pending write it finds before reading anything: events the store
has (the projection got there) are done; otherwise they are written again, the same
records in the same order, and applied. The topic then holds such a dead writer's
records twice, byte for byte (the broker may have had them before it died), which
every fold of the topic (the store, `cases rebuild`) applies once, by event id; nothing
a writer that lived to report success wrote is written again, unless it stalled past
its lock's expiry (15 s) mid-write: then two writers hold the customer at once, the
window the lock's TTL already leaves.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from typing import Any

import orjson

from withdrawguard.cases import codec
from withdrawguard.cases.case import Case, CaseFoldError
from withdrawguard.cases.events import CaseEvent
from withdrawguard.casework.decisions import decisions_for
from withdrawguard.casework.store import AppliedLike, CaseStore
from withdrawguard.contract.records import Produce, Record

log = logging.getLogger(__name__)


class CaseWriter:
    def __init__(self, store: CaseStore, produce: Produce, events: str, decisions: str) -> None:
        self._store, self._produce = store, produce
        self._events, self._decisions = events, decisions

    async def write(
        self, scope: str, before: Case | None, events: Sequence[CaseEvent]
    ) -> tuple[AppliedLike, int]:
        """Write `events` (one case's) under the lock of `scope`: pending, topic, case
        decisions, store (which clears the pending write). The store's outcome, and how
        many case decisions were sent."""
        if not events:
            raise ValueError("nothing to write")
        await self._store.pend(scope, events)
        key = events[0].case_id.encode()
        await all_acked(
            [
                await self._produce((self._events, key, codec.encode_bytes(e), None, None))
                for e in events
            ]
        )
        sent = await self.send_decisions(before, events)
        return await self._store.apply(events, settles=scope), sent

    async def settle(self, scope: str) -> int:
        """Finish the pending write a writer of `scope` left, if any (call it holding
        the lock, before reading). Returns how many of its events were written again."""
        left = await self._store.pending(scope)
        if not left:
            return 0
        stored = {e.event_id for e in await self._store.events(left[0].case_id)}
        missing = [e for e in left if e.event_id not in stored]
        if not missing:
            await self._store.apply(left, settles=scope)  # nothing new: clears it
            return 0
        log.warning(
            "a case write of %s died after it began; writing its %d events again",
            left[0].case_id,
            len(left),
        )
        try:
            await self.write(scope, await self._store.case(left[0].case_id), left)
        except CaseFoldError as exc:  # cannot follow the case: never will; let it go
            log.error("the pending write of %s cannot be applied, dropped: %s", scope, exc)
            await self._store.pend(scope, ())
        return len(left)

    async def send_decisions(self, before: Case | None, events: Sequence[CaseEvent]) -> int:
        records: list[Record] = [
            (self._decisions, d["customer_id"].encode(), orjson.dumps(d), None, None)
            for d in decisions_for(before, events)
        ]
        await all_acked([await self._produce(r) for r in records])
        return len(records)


async def all_acked(pending: Sequence[Awaitable[Any] | None]) -> None:
    for ack in pending:
        if ack is None:
            raise RuntimeError("the producer gave no acknowledgement to wait for")
        await ack
