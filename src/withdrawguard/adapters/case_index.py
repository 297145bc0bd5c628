"""The case store's keys and the indexes it keeps beside each case's events (the store
is `case_store.RedisCaseStore`; docs/cases.md lists every key).

Besides what a listing and take-next read (`inbox:`, `queue:`, `assignee:`, ...), the
indexes answer the worker's sweeps and metrics without reading a case: each count is a
ZCARD or a first element, so counting 10,000 open cases costs a few dozen commands:

- `status:<inbox>:<status>` ZSET, the inbox's open cases in that status, by opening time
  (open cases per inbox and status; the oldest open case of an inbox);
- `proposals:<inbox>` ZSET, `<case id>/<proposal id>` of every proposal waiting, by the
  time it was made (proposals waiting, and how long the oldest has waited);
- `deadlines` ZSET, cases with a proposal or suppression still pending, by the earliest
  time one of them expires (the expiry sweep reads only those whose time is up);
- `sla-watch` ZSET, open cases whose breach at their due time is not recorded yet, by
  due time (the SLA sweep reads only those past due);
- `away` HASH, person (trimmed, case-folded) -> "unavailable until" (RFC 3339);
- `rr:<inbox>` STRING, the last person auto-assignment gave a case of the inbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from withdrawguard.cases.case import Case
from withdrawguard.cases.summary import summary_of


@dataclass(frozen=True, slots=True)
class CaseKeys:
    prefix: str

    def events(self, case_id: str) -> str:
        return f"{self.prefix}ev:{case_id}"

    def summary(self, case_id: str) -> str:
        return f"{self.prefix}sum:{case_id}"

    @property
    def all(self) -> str:
        return f"{self.prefix}all"

    def inbox(self, inbox: str) -> str:
        return f"{self.prefix}inbox:{inbox}"

    def queue(self, inbox: str) -> str:
        return f"{self.prefix}queue:{inbox}"

    def assignee(self, user: str) -> str:
        return f"{self.prefix}assignee:{person(user)}"

    def customer(self, customer_id: str) -> str:
        return f"{self.prefix}customer:{customer_id}"

    def open_of(self, customer_id: str) -> str:
        return f"{self.prefix}open:{customer_id}"

    def lock(self, scope: str) -> str:
        return f"{self.prefix}lock:{scope}"

    def pending(self, scope: str) -> str:
        return f"{self.prefix}pending:{scope}"

    def status(self, inbox: str, status: str) -> str:
        return f"{self.prefix}status:{inbox}:{status}"

    def proposals(self, inbox: str) -> str:
        return f"{self.prefix}proposals:{inbox}"

    @property
    def deadlines(self) -> str:
        return f"{self.prefix}deadlines"

    @property
    def sla_watch(self) -> str:
        return f"{self.prefix}sla-watch"

    @property
    def away(self) -> str:
        return f"{self.prefix}away"

    def last_assigned(self, inbox: str) -> str:
        return f"{self.prefix}rr:{inbox}"


def person(user: str) -> str:
    """A person's name as the keys spell it: trimmed and case-folded."""
    return user.strip().casefold()


def index(pipe: Any, k: CaseKeys, before: Case | None, after: Case) -> None:
    """Queue on `pipe` (inside MULTI) the index changes of `before` becoming `after`."""
    cid, new = after.case_id, summary_of(after)
    if before is not None:
        old = summary_of(before)
        pipe.zrem(k.inbox(old.inbox), cid)
        pipe.zrem(k.queue(old.inbox), cid)
        pipe.zrem(k.status(old.inbox, old.status), cid)
        if old.assignee:
            pipe.zrem(k.assignee(old.assignee), cid)
        gone = [f"{cid}/{p.proposal_id}" for p in before.proposals]
        if gone:
            pipe.zrem(k.proposals(before.inbox), *gone)
    pipe.hset(k.summary(cid), mapping=cast(Any, new.to_fields()))
    opened, due = ms(new.opened_at), ms(new.due_at)
    pipe.zadd(k.all, {cid: opened})
    pipe.zadd(k.customer(new.customer_id), {cid: opened})
    waiting = {f"{cid}/{p.proposal_id}": ms(p.at) for p in after.proposals}
    if waiting:
        pipe.zadd(k.proposals(after.inbox), waiting)
    deadline = next_deadline(after)
    if deadline is None:
        pipe.zrem(k.deadlines, cid)
    else:
        pipe.zadd(k.deadlines, {cid: ms(deadline)})
    if new.closed or after.breach_noticed == after.due_at:
        pipe.zrem(k.sla_watch, cid)
    else:
        pipe.zadd(k.sla_watch, {cid: due})
    if new.closed:
        pipe.srem(k.open_of(new.customer_id), cid)
        return
    pipe.sadd(k.open_of(new.customer_id), cid)
    pipe.zadd(k.inbox(new.inbox), {cid: due})
    pipe.zadd(k.status(new.inbox, new.status), {cid: opened})
    if new.takeable:
        pipe.zadd(k.queue(new.inbox), {cid: due})
    if new.assignee:
        pipe.zadd(k.assignee(new.assignee), {cid: due})


def next_deadline(case: Case) -> datetime | None:
    """When the first of the case's pending proposals and suppressions expires."""
    times = [p.expires_at for p in case.proposals] + [s.until for s in case.suppressions]
    return min(times, default=None)


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)
