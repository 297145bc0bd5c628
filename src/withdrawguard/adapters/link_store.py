"""The links projection: who touched which destination, IP and device, in Redis
(docs/cases.md, "Links"), fed from the observation topics by the links sink and read by
the case page, `withdrawguard cases show` and the export (`casework.links.LinkReader`).

Keys, under the deployment's hash tag `wg:{<app id>}:links:` (as the case store's), so the
script below, which writes two keys at once, stays in one Redis Cluster slot:

- `v:<kind>:<value key>` ZSET of the value's slots (`cases.links.Slot.member`:
  `<width>:<index>:<customer id>`), each scored by its latest touch (epoch ms);
- `c:<customer id>` ZSET of the values the customer touched (`cases.links.Value.encode`,
  JSON), each scored by the customer's latest touch of it.

Every write only raises a score (ZADD GT), then drops what lies more than the lookback
before the newest score of that key and, over the cap, the lowest: the outcome does not
depend on the order touches come in, nor on how often, so the sink may replay records
and a rebuild equals the live projection. Destinations are kept by a digest and their
masked form only.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from withdrawguard.cases.links import (
    MAX_SLOTS_PER_VALUE,
    MAX_VALUES_PER_CUSTOMER,
    LinkWindows,
    Slot,
    Touch,
    Value,
    slot_of,
)
from withdrawguard.registry.keys import registry_prefix

# KEYS: per touch, the value's slots then the customer's values. ARGV: lookback (ms), cap
# of slots, cap of values, then per touch its slot member, its time (ms), its value member.
# Each key gets one ZADD GT of all its touches, then is trimmed once: the same as a ZADD
# and a trim per touch (a trim only drops what the key's newest score and its cap would
# drop at the end anyway), with a fraction of Redis's work when a customer touches
# several values, or a value is touched by several customers, in one call.
_TOUCH = """
local lookback = tonumber(ARGV[1])
local caps = {tonumber(ARGV[2]), tonumber(ARGV[3])}
local adds, cap_of, order = {}, {}, {}
for i = 1, #KEYS / 2 do
  local at = 3 * i + 1
  for side = 1, 2 do
    local key = KEYS[2 * i - 2 + side]
    local pairs_of = adds[key]
    if not pairs_of then
      pairs_of = {}
      adds[key], cap_of[key] = pairs_of, caps[side]
      order[#order + 1] = key
    end
    pairs_of[#pairs_of + 1] = ARGV[at + 1]
    pairs_of[#pairs_of + 1] = ARGV[at + 2 * side - 2]
  end
end
for _, key in ipairs(order) do
  redis.call('zadd', key, 'GT', unpack(adds[key]))
  local top = redis.call('zrange', key, -1, -1, 'WITHSCORES')
  redis.call('zremrangebyscore', key, '-inf', '(' .. (tonumber(top[2]) - lookback))
  local n = redis.call('zcard', key)
  if n > cap_of[key] then redis.call('zremrangebyrank', key, 0, n - cap_of[key] - 1) end
end
return #order
"""
PER_CALL = 250
"""Touches per script call (500 keys): one command for many, where one command per touch
cost the worker more CPU in redis-py than its whole engine (docs/performance.md)."""


def links_prefix(app_id: str) -> str:
    """The links projection's key prefix: the registry's hash tag, then `links:`."""
    return f"{registry_prefix(app_id)}links:"


class RedisLinkStore:
    def __init__(
        self,
        redis: Redis[bytes],
        prefix: str,
        max_slots: int = MAX_SLOTS_PER_VALUE,
        max_values: int = MAX_VALUES_PER_CUSTOMER,
    ) -> None:
        self._redis = redis
        self.prefix = prefix
        self._max_slots, self._max_values = max_slots, max_values
        self._touch = redis.register_script(_TOUCH)

    def value_key(self, value: Value) -> str:
        return f"{self.prefix}v:{value.kind}:{value.key}"

    def customer_key(self, customer_id: str) -> str:
        return f"{self.prefix}c:{customer_id}"

    async def record(self, touches: Sequence[Touch], windows: LinkWindows) -> None:
        """Keep the touches (idempotent, in any order), one round trip for all: the same
        touch of a slot seen more than once is sent once, at its latest time (the
        outcome does not depend on how often it comes), and the script takes PER_CALL
        touches a call."""
        if not touches:
            return
        latest: dict[tuple[str, str, str, str], int] = {}
        for t in touches:
            touch = (
                self.value_key(t.value),
                slot_of(t, windows).member(),
                self.customer_key(t.customer_id),
                t.value.encode(),
            )
            if latest.get(touch, -1) < t.ts:
                latest[touch] = t.ts
        listed = list(latest.items())
        async with self._redis.pipeline(transaction=False) as pipe:
            for start in range(0, len(listed), PER_CALL):
                keys: list[str] = []
                args: list[str | int] = [windows.lookback, self._max_slots, self._max_values]
                for (value_key, slot, customer_key, value), ts in listed[start : start + PER_CALL]:
                    keys += (value_key, customer_key)
                    args += (slot, ts, value)
                await self._touch(keys=keys, args=args, client=pipe)
            await pipe.execute()

    async def seen_by(self, customer_id: str, since_ms: int) -> list[tuple[Value, list[Slot]]]:
        """The values the customer touched from `since_ms` on, each with every slot kept
        of it from then on (`cases.links.links_of` leaves out those after its "now")."""
        raw = await self._redis.zrangebyscore(
            self.customer_key(customer_id), since_ms, "+inf", start=0, num=self._max_values
        )
        values = [Value.decode(r) for r in raw]
        if not values:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for v in values:
                pipe.zrangebyscore(self.value_key(v), since_ms, "+inf", withscores=True)
            found: list[list[tuple[bytes, float]]] = await pipe.execute()
        return [
            (v, [Slot.of_member(m, score) for m, score in slots])
            for v, slots in zip(values, found, strict=True)
        ]

    async def dump(self) -> dict[str, list[tuple[str, int]]]:
        """Every key of the projection with its members and scores (tests, rebuild checks)."""
        out: dict[str, list[tuple[str, int]]] = {}
        async for key in self._redis.scan_iter(match=f"{self.prefix}*", count=1000):
            pairs = await self._redis.zrange(key, 0, -1, withscores=True)
            out[key.decode()] = [(m.decode(), int(s)) for m, s in pairs]
        return out

    async def clear(self) -> int:
        """Delete every key of the projection. Returns how many."""
        deleted, batch = 0, []
        async for key in self._redis.scan_iter(match=f"{self.prefix}*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                deleted += await self._redis.delete(*batch)
                batch = []
        if batch:
            deleted += await self._redis.delete(*batch)
        return deleted
