"""Reading the hold registry the projector keeps in Redis, and revoked sessions.

Keys (prefix `wg:{<app id>}:`, `registry.keys`): `wd:<withdrawal id>` a hash per
withdrawal; `holds:open` a sorted set of open holds by creation time (oldest first);
`alerts` a sorted set of alert ids by time, each alert's JSON at `alert:<alert id>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

SEVERITY_RANK = {"critical": 4, "high": 3, "medium": 2, "low": 1, "none": 0}
FIELDS = (
    "customer_id",
    "decision",
    "hold_status",
    "reasons",
    "risk_score",
    "severity",
    "amount",
    "currency",
    "destination",
    "withdrawal_occurred_at",
    "hold_created_at",
    "actor",
    "note",
    "updated_at",
)


@dataclass
class RegistryReader:
    redis: Redis[bytes]
    prefix: str

    async def open_holds(self, limit: int = 200) -> list[dict[str, Any]]:
        """Open holds, oldest first, each with its created time in epoch ms."""
        members = await self.redis.zrange(f"{self.prefix}holds:open", 0, limit - 1, withscores=True)
        ids = [m.decode() for m, _ in members]
        records = await self.withdrawals(ids)
        out = []
        for (wid, created), rec in zip(
            zip(ids, (s for _, s in members), strict=True), records, strict=True
        ):
            if rec:
                out.append({"withdrawal_id": wid, "created_ms": int(created), **rec})
        return out

    async def withdrawals(self, ids: list[str]) -> list[dict[str, Any]]:
        """The registry record of each id ({} where there is none), reasons decoded."""
        pipe = self.redis.pipeline(transaction=False)
        for wid in ids:
            pipe.hgetall(f"{self.prefix}wd:{wid}")
        raw: list[dict[bytes, bytes]] = await pipe.execute() if ids else []
        return [_record(r) for r in raw]

    async def recent_alerts(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest alerts, most severe first, then newest first."""
        ids = await self.redis.zrevrange(f"{self.prefix}alerts", 0, limit - 1)
        keys = [f"{self.prefix}alert:{i.decode()}" for i in ids]
        values = await self.redis.mget(keys) if keys else []
        alerts = [orjson.loads(v) for v in values if v]
        alerts.sort(key=lambda a: a.get("created_at", ""), reverse=True)
        alerts.sort(key=lambda a: SEVERITY_RANK.get(a.get("severity", ""), 0), reverse=True)
        return alerts


def _record(raw: dict[bytes, bytes]) -> dict[str, Any]:
    rec: dict[str, Any] = {k.decode(): v.decode() for k, v in raw.items()}
    if not rec:
        return {}
    try:
        rec["reasons"] = orjson.loads(rec.get("reasons") or "[]")
    except orjson.JSONDecodeError:
        rec["reasons"] = []
    return {k: rec.get(k, "") for k in FIELDS}


@dataclass
class RedisRevocations:
    """Session ids signed out before their expiry, shared by every worker."""

    redis: Redis[bytes]
    prefix: str

    async def revoke(self, sid: str, seconds: int) -> None:
        await self.redis.set(f"{self.prefix}console:revoked:{sid}", b"1", ex=max(seconds, 1))

    async def is_revoked(self, sid: str) -> bool:
        return bool(await self.redis.exists(f"{self.prefix}console:revoked:{sid}"))
