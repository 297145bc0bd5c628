"""The case store: a Redis projection of the `case-events` topic (docs/cases.md, "Wiring").

Keys, under the deployment's hash tag `wg:{<app id>}:case:` (as the registry's,
`registry.keys`), so each multi-key transaction stays in one Redis Cluster slot:

- `ev:<case id>` LIST, the case's events as written to the topic (JSON), in order; an
  event whose id it holds is not applied again (an event applied twice is applied once;
  stores written before 7 December 2026 also kept the ids in `ids:<case id>`, unread);
- `sum:<case id>` HASH, the case in brief (`cases.summary.Summary.to_fields`);
- `all` ZSET, every case id, scored by opening time (epoch ms);
- `inbox:<inbox>` ZSET, the inbox's cases not closed, scored by due time (epoch ms);
- `queue:<inbox>` ZSET, of those, the ones take-next may offer (unassigned, not parked);
- `assignee:<user>` ZSET, the user's cases not closed, by due time;
- `customer:<customer id>` ZSET, all the customer's cases by opening time;
- `open:<customer id>` SET, the customer's cases not closed (one, as intake keeps it);
- `lock:<scope>` STRING, a lock's owner token (`lock` / `unlock`);
- `pending:<scope>` STRING, the events a writer holding the lock is writing (JSON list),
  cleared by the store write that applies them (`casework.writer` settles one left);
- and the indexes the sweeps and metrics read (`case_index`): `status:`, `proposals:`,
  `deadlines`, `sla-watch`, `away`, `rr:`.

The state of a case is not stored: it is the fold of `ev:<case id>` (`cases.case.rebuild`),
which is what makes the store rebuildable from the topic and equal to it.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import orjson
from redis.asyncio import Redis
from redis.exceptions import WatchError

from withdrawguard.adapters.case_index import CaseKeys, index, person
from withdrawguard.cases import codec
from withdrawguard.cases.case import Case, apply, rebuild
from withdrawguard.cases.events import CaseEvent
from withdrawguard.cases.summary import Summary
from withdrawguard.registry.keys import registry_prefix

_UNLOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def case_prefix(app_id: str) -> str:
    """The case store's key prefix: the registry's hash tag, then `case:`."""
    return f"{registry_prefix(app_id)}case:"


@dataclass(frozen=True, slots=True)
class Applied:
    """What `apply` did: the case before and after, and the events that were new."""

    before: Case | None
    after: Case | None
    new: tuple[CaseEvent, ...]


class RedisCaseStore:
    def __init__(
        self,
        redis: Redis[bytes],
        prefix: str,
        on_applied: Callable[[Applied], object] | None = None,
    ) -> None:
        """`on_applied` is told of every apply that wrote new events: once for each
        event across all workers (the metrics' time to first action and to close)."""
        self._redis, self._on_applied = redis, on_applied
        self.keys = CaseKeys(prefix)
        self._unlock = redis.register_script(_UNLOCK)

    # ------------------------------------------------------------ writing

    async def apply(self, events: Sequence[CaseEvent], *, settles: str | None = None) -> Applied:
        """Fold the events of one case not applied yet into the store, atomically (a
        WATCH on the case's log, retried on a concurrent write). `CaseFoldError` if they
        cannot follow the case as stored; nothing is written then. With `settles`, the
        scope's pending write is cleared in the same transaction (or at once, if every
        event was applied before)."""
        if not events:
            return Applied(None, None, ())
        case_id = events[0].case_id
        if any(e.case_id != case_id for e in events):
            raise ValueError("apply takes the events of one case at a time")
        log_key = self.keys.events(case_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(log_key)
                    # One read: what was applied is what the log holds. (Reading a set
                    # of ids as well let a write land between the two reads: an event
                    # seen with its log still empty, or the other way round.)
                    raw = await cast(Awaitable[list[bytes]], pipe.lrange(log_key, 0, -1))
                    stored = [codec.decode_bytes(r) for r in raw]
                    new = _unseen(events, {e.event_id for e in stored})
                    before = rebuild(stored) if stored else None
                    if not new:
                        await pipe.unwatch()
                        if settles is not None:
                            await self._redis.delete(self.keys.pending(settles))
                        return Applied(before, before, ())
                    after = before
                    for event in new:
                        after = apply(after, event)
                    assert after is not None
                    pipe.multi()
                    pipe.rpush(log_key, *(codec.encode_bytes(e) for e in new))
                    index(pipe, self.keys, before, after)
                    if settles is not None:
                        pipe.delete(self.keys.pending(settles))
                    await pipe.execute()
                    done = Applied(before, after, tuple(new))
                    if self._on_applied is not None:
                        self._on_applied(done)
                    return done
                except WatchError:
                    continue

    async def clear(self) -> int:
        """Delete every key of the case store the topic rebuilds (locks included; not
        who is away nor the round-robin's last pick, which are no case's events)."""
        deleted, batch = 0, []
        kept = (self.keys.away.encode(), self.keys.last_assigned("").encode())
        async for key in self._redis.scan_iter(match=f"{self.keys.prefix}*", count=1000):
            if key == kept[0] or key.startswith(kept[1]):
                continue
            batch.append(key)
            if len(batch) >= 500:
                deleted += await self._redis.delete(*batch)
                batch = []
        if batch:
            deleted += await self._redis.delete(*batch)
        return deleted

    async def pend(self, scope: str, events: Sequence[CaseEvent]) -> None:
        """Record `events` as the scope's pending write; none clears it."""
        if not events:
            await self._redis.delete(self.keys.pending(scope))
            return
        body = orjson.dumps([codec.encode_bytes(e).decode() for e in events])
        await self._redis.set(self.keys.pending(scope), body)

    async def pending(self, scope: str) -> list[CaseEvent]:
        raw = await self._redis.get(self.keys.pending(scope))
        return [codec.decode_bytes(e.encode()) for e in orjson.loads(raw)] if raw else []

    # ------------------------------------------------------------ reading

    async def events(self, case_id: str) -> list[CaseEvent]:
        raw = await cast(
            Awaitable[list[bytes]], self._redis.lrange(self.keys.events(case_id), 0, -1)
        )
        return [codec.decode_bytes(r) for r in raw]

    async def case(self, case_id: str) -> Case | None:
        events = await self.events(case_id)
        return rebuild(events) if events else None

    async def summary(self, case_id: str) -> Summary | None:
        found = await self.summaries([case_id])
        return found[0] if found else None

    async def summaries(self, case_ids: Sequence[str]) -> list[Summary]:
        """The summaries of the cases named that exist, in the order named."""
        if not case_ids:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for cid in case_ids:
            pipe.hgetall(self.keys.summary(cid))
        rows: list[dict[bytes, bytes]] = await pipe.execute()
        return [Summary.from_fields(_text(r)) for r in rows if r]

    async def case_ids(self, limit: int = 10_000) -> list[str]:
        """Every case id, oldest opened first (at most `limit`)."""
        return await self._range(self.keys.all, 0, limit)

    async def inbox(self, inbox: str, offset: int = 0, limit: int = 100) -> list[str]:
        """The inbox's cases not closed, due first."""
        return await self._range(self.keys.inbox(inbox), offset, limit)

    async def due_counts(self, inbox: str, now_ms: int) -> tuple[int, int]:
        """(cases not closed, those of them past their due time) of the inbox."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zcard(self.keys.inbox(inbox))
            pipe.zcount(self.keys.inbox(inbox), "-inf", f"({now_ms}")
            total, late = await pipe.execute()
        return int(total), int(late)

    async def inbox_report(
        self, inbox: str, statuses: Sequence[str], now_ms: int
    ) -> tuple[dict[str, int], int, int | None, int, int | None]:
        """The inbox in numbers, from its indexes in one round trip: (open cases per
        status, past due, the oldest open case's opening ms, proposals waiting, the
        oldest waiting proposal's ms)."""
        k = self.keys
        async with self._redis.pipeline(transaction=False) as pipe:
            for status in statuses:
                pipe.zcard(k.status(inbox, status))
                pipe.zrange(k.status(inbox, status), 0, 0, withscores=True)
            pipe.zcount(k.inbox(inbox), "-inf", f"({now_ms}")
            pipe.zcard(k.proposals(inbox))
            pipe.zrange(k.proposals(inbox), 0, 0, withscores=True)
            got = await pipe.execute()
        n = len(statuses)
        counts = {s: int(got[2 * i]) for i, s in enumerate(statuses)}
        firsts = [int(row[0][1]) for row in got[1 : 2 * n : 2] if row]
        oldest_proposal = int(got[-1][0][1]) if got[-1] else None
        return counts, int(got[2 * n]), min(firsts, default=None), int(got[-2]), oldest_proposal

    async def expiring(self, now_ms: int, limit: int = 500) -> list[str]:
        """Cases with a proposal or suppression whose time is up at `now_ms`."""
        raw = await self._redis.zrangebyscore(self.keys.deadlines, "-inf", now_ms, 0, limit)
        return [r.decode() for r in raw]

    async def past_due_unnoticed(self, now_ms: int, limit: int = 500) -> list[str]:
        """Open cases at or past their due time whose breach is not recorded yet."""
        raw = await self._redis.zrangebyscore(self.keys.sla_watch, "-inf", now_ms, 0, limit)
        return [r.decode() for r in raw]

    async def set_away(self, user: str, until: datetime) -> None:
        await cast(
            Awaitable[int], self._redis.hset(self.keys.away, person(user), until.isoformat())
        )

    async def clear_away(self, user: str) -> bool:
        return bool(await cast(Awaitable[int], self._redis.hdel(self.keys.away, person(user))))

    async def away(self) -> dict[str, datetime]:
        """Person -> unavailable until, for everyone marked away (past times included)."""
        raw = await cast(Awaitable[dict[bytes, bytes]], self._redis.hgetall(self.keys.away))
        return {k.decode(): datetime.fromisoformat(v.decode()) for k, v in raw.items()}

    async def last_assigned(self, inbox: str) -> str | None:
        found = await self._redis.get(self.keys.last_assigned(inbox))
        return None if found is None else found.decode()

    async def set_last_assigned(self, inbox: str, user: str) -> None:
        await self._redis.set(self.keys.last_assigned(inbox), user)

    async def queue(self, inbox: str, limit: int = 20) -> list[str]:
        """The inbox's cases take-next may offer, due first."""
        return await self._range(self.keys.queue(inbox), 0, limit)

    async def assigned_to(self, user: str, limit: int = 100) -> list[str]:
        return await self._range(self.keys.assignee(user), 0, limit)

    async def cases_of(self, customer_id: str) -> list[Case]:
        """Every case of the customer (closed ones too), oldest first."""
        ids = await self._range(self.keys.customer(customer_id), 0, 1000)
        cases = [await self.case(cid) for cid in ids]
        return [c for c in cases if c is not None]

    async def open_case_of(self, customer_id: str) -> str | None:
        found = await cast(
            Awaitable[set[bytes]], self._redis.smembers(self.keys.open_of(customer_id))
        )
        return min((f.decode() for f in found), default=None)

    async def current_cases(self, customer_ids: Sequence[str]) -> dict[str, Summary]:
        """Each customer's current case in brief: the open one, else the latest opened;
        customers with no case are left out. Two round trips whatever the number."""
        if not customer_ids:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for c in customer_ids:
                pipe.smembers(self.keys.open_of(c))
                pipe.zrange(self.keys.customer(c), -1, -1)
            found = await pipe.execute()
        chosen: dict[str, str] = {}
        for i, c in enumerate(customer_ids):
            open_ids, latest = found[2 * i], found[2 * i + 1]
            pick = min(open_ids) if open_ids else (latest[0] if latest else None)
            if pick is not None:
                chosen[c] = pick.decode()
        summaries = await self.summaries(list(chosen.values()))
        by_case = {s.case_id: s for s in summaries}
        return {c: by_case[cid] for c, cid in chosen.items() if cid in by_case}

    async def _range(self, key: str, offset: int, limit: int) -> list[str]:
        raw = await self._redis.zrange(key, offset, offset + limit - 1)
        return [r.decode() for r in raw]

    # ------------------------------------------------------------ locks

    async def lock(self, scope: str, ttl_ms: int) -> str | None:
        """Take the lock of `scope` for `ttl_ms`: its owner token, or None if held."""
        token = secrets.token_hex(16)
        taken = await self._redis.set(self.keys.lock(scope), token, nx=True, px=ttl_ms)
        return token if taken else None

    async def unlock(self, scope: str, token: str) -> bool:
        """Release the lock if `token` still owns it (an expired lock taken over by
        someone else is theirs, and stays)."""
        return bool(await self._unlock(keys=[self.keys.lock(scope)], args=[token]))


def _unseen(events: Sequence[CaseEvent], seen: set[str]) -> list[CaseEvent]:
    """The events whose ids are not in `seen` (nor earlier in `events`)."""
    new = []
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            new.append(event)
    return new


def _text(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}
