"""The hold registry in Redis (redis.asyncio). Key names: `withdrawguard.registry.keys`.

A withdrawal is updated under WATCH: read its hash, compute the new one with the pure
projection, and write the hash and both open-holds indexes in one MULTI/EXEC; if another
writer touched the hash meanwhile, EXEC fails and the update is computed again. So two
projectors (say, a worker and `registry rebuild`) can never regress a record. An alert
is added by a Lua script that also trims the index to the newest 1000 and drops the
trimmed alerts' JSON (it builds those keys itself: one Redis, not a cluster).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import WatchError

from withdrawguard.registry.apply import Change
from withdrawguard.registry.keys import RegistryKeys
from withdrawguard.registry.projection import ALERT_TTL_SECONDS, ALERTS_KEPT, AlertEntry

_ADD_ALERT = """
redis.call('zadd', KEYS[1], ARGV[2], ARGV[1])
local gone = redis.call('zrange', KEYS[1], 0, -(tonumber(ARGV[5]) + 1))
for _, id in ipairs(gone) do redis.call('del', ARGV[6] .. id) end
if #gone > 0 then redis.call('zremrangebyrank', KEYS[1], 0, #gone - 1) end
if redis.call('zscore', KEYS[1], ARGV[1]) then
  redis.call('set', KEYS[2], ARGV[3], 'EX', ARGV[4], 'NX')
end
return #gone
"""


class RedisRegistry:
    def __init__(self, redis: Redis[bytes], prefix: str) -> None:
        self._redis = redis
        self.keys = RegistryKeys(prefix)
        self._add_alert = redis.register_script(_ADD_ALERT)

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
                        return False
                    pipe.multi()
                    pipe.hset(key, mapping=cast(Any, proj.fields))
                    indexes = (self.keys.open_holds, self.keys.open_holds_of(proj.customer_id))
                    for index in indexes:
                        if proj.open_since_ms is None:
                            pipe.zrem(index, withdrawal_id)
                        else:
                            pipe.zadd(index, {withdrawal_id: proj.open_since_ms})
                    await pipe.execute()
                    return True
                except WatchError:
                    continue

    async def add_alert(self, entry: AlertEntry) -> None:
        await self._add_alert(
            keys=[self.keys.alerts, self.keys.alert(entry.alert_id)],
            args=[
                entry.alert_id,
                entry.created_ms,
                entry.json,
                ALERT_TTL_SECONDS,
                ALERTS_KEPT,
                self.keys.alert(""),
            ],
        )

    async def withdrawal(self, withdrawal_id: str) -> dict[str, str]:
        raw = await cast(
            Awaitable[dict[bytes, bytes]], self._redis.hgetall(self.keys.withdrawal(withdrawal_id))
        )
        return _text(raw)

    async def clear(self) -> int:
        """Delete every registry key of this prefix (not the notifier's). Returns how many."""
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


def _text(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}
