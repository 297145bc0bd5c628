"""Redis behind `DedupStore` and `IncidentStore` (redis.asyncio), shared by all workers.

Keys, under `<prefix>` (`wg:{<app id>}:notify`: the registry's hash tag, so the MULTI of
`link` and the MGET of `_settled` stay in one Redis Cluster slot):
- `<prefix>:dedup:<channel>:<incident>` -> `pending:<alert id>` / `done:<alert id>`,
  expiring after the dedup window;
- `<prefix>:incident:<incident>` -> set of withdrawal ids the incident waits for;
- `<prefix>:wd:<withdrawal id>` -> set of incidents covering it;
- `<prefix>:hold:<withdrawal id>` -> the hold's last status.
Incident keys expire `INCIDENT_TTL_SECONDS` after their last change.
"""

from __future__ import annotations

from redis.asyncio import Redis

INCIDENT_TTL_SECONDS = 8 * 24 * 3600  # longer than the policy's 168 h re-evaluation
SETTLED = frozenset({"released", "confirmed_fraud"})
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class RedisDedup:
    def __init__(self, redis: Redis[bytes]) -> None:
        self._redis = redis

    async def claim(self, key: str, alert_id: str, ttl_seconds: int) -> bool:
        mine = f"pending:{alert_id}"
        if await self._redis.set(key, mine, nx=True, ex=max(1, ttl_seconds)):
            return True
        current = await self._redis.get(key)
        return bool(current is not None and current.decode() == mine)

    async def complete(self, key: str, alert_id: str) -> None:
        await self._redis.set(key, f"done:{alert_id}", xx=True, keepttl=True)

    async def release(self, key: str, alert_id: str) -> None:
        script = self._redis.register_script(_RELEASE)
        await script(keys=[key], args=[f"pending:{alert_id}"])


class RedisIncidents:
    def __init__(self, redis: Redis[bytes], prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    async def link(self, incident: str, withdrawal_id: str) -> bool:
        p, r = self._prefix, self._redis
        async with r.pipeline(transaction=True) as pipe:
            pipe.sadd(f"{p}:incident:{incident}", withdrawal_id)
            pipe.expire(f"{p}:incident:{incident}", INCIDENT_TTL_SECONDS)
            pipe.sadd(f"{p}:wd:{withdrawal_id}", incident)
            pipe.expire(f"{p}:wd:{withdrawal_id}", INCIDENT_TTL_SECONDS)
            await pipe.execute()
        return await self._settled(incident)

    async def settle(self, withdrawal_id: str, status: str) -> list[str]:
        p, r = self._prefix, self._redis
        await r.set(f"{p}:hold:{withdrawal_id}", status, ex=INCIDENT_TTL_SECONDS)
        if status not in SETTLED:
            return []
        incidents = sorted(m.decode() for m in await r.smembers(f"{p}:wd:{withdrawal_id}"))
        return [i for i in incidents if await self._settled(i)]

    async def _settled(self, incident: str) -> bool:
        p, r = self._prefix, self._redis
        members = sorted(m.decode() for m in await r.smembers(f"{p}:incident:{incident}"))
        if not members:
            return False
        statuses = await r.mget([f"{p}:hold:{w}" for w in members])
        return all(s is not None and s.decode() in SETTLED for s in statuses)
