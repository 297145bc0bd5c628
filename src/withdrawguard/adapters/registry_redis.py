"""The hold registry in Redis (redis.asyncio). Key names: `withdrawguard.registry.keys`.

A withdrawal is updated under WATCH: read its hash, compute the new one with the pure
projection, and write the hash and both open-holds indexes in one MULTI/EXEC; if another
writer touched the hash meanwhile, EXEC fails and the update is computed again. So two
projectors (say, a worker and `registry rebuild`) can never regress a record. An alert
is indexed the same way under WATCH of the index, trimming it to the newest 1000 and
deleting the trimmed alerts' JSON in the same transaction. No Lua: every key a write
touches is named by the client, and all of them share the deployment's hash tag, so each
transaction runs on one node of a Redis Cluster too.

With `min_replicas` (WG_REDIS_MIN_REPLICAS), an update counts only once that many
replicas confirmed it: the writer then writes `registry:synced` and sends WAIT on one
connection (WAIT covers everything the master did before that write), and raises
`NotReplicated` when too few confirm in time. The registry sink retries the record, so
its offset is not committed past a write a failover could still lose.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError, WatchError

from withdrawguard.registry.apply import Change
from withdrawguard.registry.keys import RegistryKeys
from withdrawguard.registry.projection import ALERT_TTL_SECONDS, ALERTS_KEPT, AlertEntry

WAIT_MS = 1000
"""How long a write waits for its replicas before it is retried."""


class NotReplicated(RedisError):
    """Fewer replicas than WG_REDIS_MIN_REPLICAS confirmed a write in time."""


class RedisRegistry:
    def __init__(self, redis: Redis[bytes], prefix: str, min_replicas: int = 0) -> None:
        self._redis = redis
        self.keys = RegistryKeys(prefix)
        self._min_replicas = min_replicas

    async def update_withdrawal(self, withdrawal_id: str, change: Change) -> bool:
        key = self.keys.withdrawal(withdrawal_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    raw = await cast(Awaitable[dict[bytes, bytes]], pipe.hgetall(key))
                    proj = change(_text(raw))
                    if proj is None:
                        await pipe.unwatch()
                        break
                    pipe.multi()
                    pipe.hset(key, mapping=cast(Any, proj.fields))
                    pipe.hset(self.keys.writer, "prefix", self.keys.prefix)  # clients' hint
                    indexes = (self.keys.open_holds, self.keys.open_holds_of(proj.customer_id))
                    for index in indexes:
                        if proj.open_since_ms is None:
                            pipe.zrem(index, withdrawal_id)
                        else:
                            pipe.zadd(index, {withdrawal_id: proj.open_since_ms})
                    await pipe.execute()
                    break
                except WatchError:
                    continue
        # Also when nothing changed: a retried record's first write may not be confirmed.
        await self._replicated()
        return proj is not None

    async def add_alert(self, entry: AlertEntry) -> None:
        index, wanted = self.keys.alerts, entry.alert_id
        async with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(index)
                    gone = await _trimmed(pipe, index, wanted, entry.created_ms)
                    pipe.multi()
                    pipe.zadd(index, {wanted: entry.created_ms})
                    if gone:
                        pipe.zrem(index, *gone)
                        pipe.delete(*(self.keys.alert(a) for a in gone))
                    if wanted not in gone:
                        key = self.keys.alert(wanted)
                        pipe.set(key, entry.json, ex=ALERT_TTL_SECONDS, nx=True)
                    await pipe.execute()
                    break
                except WatchError:
                    continue
        await self._replicated()

    async def withdrawal(self, withdrawal_id: str) -> dict[str, str]:
        raw = await cast(
            Awaitable[dict[bytes, bytes]], self._redis.hgetall(self.keys.withdrawal(withdrawal_id))
        )
        return _text(raw)

    async def clear(self) -> int:
        """Delete every registry key of this prefix (not the notifier's). Returns how many.
        On a Redis Cluster the SCAN runs on every master."""
        deleted = 0
        for pattern in self.keys.patterns():
            batch: list[bytes] = []
            async for key in self._redis.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) >= 500:
                    deleted += await self._redis.delete(*batch)
                    batch = []
            if batch:
                deleted += await self._redis.delete(*batch)
        return deleted

    async def _replicated(self) -> None:
        if not self._min_replicas:
            return
        pipe = self._redis.pipeline(transaction=False)  # one connection, in this order
        pipe.set(self.keys.synced, b"1", ex=3600)
        pipe.wait(self._min_replicas, WAIT_MS)
        _, acked = await pipe.execute()
        if int(acked) < self._min_replicas:
            raise NotReplicated(
                f"{acked} of {self._min_replicas} replicas confirmed a registry write "
                f"within {WAIT_MS} ms"
            )


async def _trimmed(pipe: Any, index: str, alert_id: str, score: int) -> list[str]:
    """The alert ids that fall out of the newest ALERTS_KEPT once `alert_id` is added at
    `score` (lowest scores first, ties by member, as Redis orders them)."""
    count = int(await pipe.zcard(index))
    known = await pipe.zscore(index, alert_id) is not None
    excess = count + (0 if known else 1) - ALERTS_KEPT
    if excess <= 0:
        return []
    lowest = await pipe.zrange(index, 0, excess, withscores=True)
    ranked = sorted(
        [(float(s), m.decode()) for m, s in lowest if m.decode() != alert_id]
        + [(float(score), alert_id)]
    )
    return [member for _, member in ranked[:excess]]


def _text(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}
