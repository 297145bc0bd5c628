"""Failed sign-ins, limited per user name and per client address, across workers.

Each key may fail `limit` times within `window` seconds; then sign-ins for it are
refused (even with the right password) until the oldest failure leaves the window. The
failures are counted where every worker counts them (`Failures`: Redis in the worker,
`RedisFailures`), so two workers behind a load balancer do not give an attacker twice
the tries. The caller passes the time.
"""

from __future__ import annotations

import secrets
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from redis.asyncio import Redis

MAX_KEYS = 100_000
"""Keys the in-memory count remembers at most; beyond it the stalest are forgotten."""


class Failures(Protocol):
    """Where failed sign-ins are counted, per key."""

    async def recent(self, key: str, now: float, window: float) -> int:
        """Failures of `key` within `window` seconds before `now`."""

    async def add(self, key: str, now: float, window: float) -> None:
        """One failure of `key` at `now`, kept for `window` seconds."""

    async def clear(self, key: str) -> None: ...


@dataclass
class RedisFailures:
    """A sorted set per key (`<prefix>signin:<key>`, scored by time), expiring with its
    window: every worker of the deployment counts in the same sets."""

    redis: Redis[bytes]
    prefix: str

    def _key(self, key: str) -> str:
        return f"{self.prefix}signin:{key}"

    async def recent(self, key: str, now: float, window: float) -> int:
        k = self._key(key)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(k, "-inf", now - window)
            pipe.zcard(k)
            _, count = await pipe.execute()
        return int(count)

    async def add(self, key: str, now: float, window: float) -> None:
        k = self._key(key)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(k, {f"{now}:{secrets.token_hex(4)}": now})
            pipe.expire(k, int(window) + 1)
            await pipe.execute()

    async def clear(self, key: str) -> None:
        await self.redis.delete(self._key(key))


@dataclass
class MemoryFailures:
    """The same count in this process alone (tools and unit tests)."""

    _failures: dict[str, deque[float]] = field(default_factory=dict)

    async def recent(self, key: str, now: float, window: float) -> int:
        q = self._failures.get(key)
        if q is None:
            return 0
        while q and q[0] <= now - window:
            q.popleft()
        if not q:
            del self._failures[key]
        return len(q)

    async def add(self, key: str, now: float, window: float) -> None:
        if key not in self._failures and len(self._failures) >= MAX_KEYS:
            del self._failures[next(iter(self._failures))]
        self._failures.setdefault(key, deque(maxlen=1000)).append(now)

    async def clear(self, key: str) -> None:
        self._failures.pop(key, None)


@dataclass
class SignInLimiter:
    """Five failures per user and twenty per address in fifteen minutes, by default."""

    failures: Failures = field(default_factory=MemoryFailures)
    per_user: int = 5
    per_address: int = 20
    window: float = 900.0

    async def blocked(self, user: str, address: str, now: float) -> str | None:
        """Why a sign-in is refused before its password is checked, or None."""
        if await self.failures.recent(f"addr:{address}", now, self.window) >= self.per_address:
            return "too many failed sign-ins from this address"
        if await self.failures.recent(f"user:{user}", now, self.window) >= self.per_user:
            return "too many failed sign-ins for this user"
        return None

    async def failed(self, user: str, address: str, now: float) -> None:
        await self.failures.add(f"user:{user}", now, self.window)
        await self.failures.add(f"addr:{address}", now, self.window)

    async def succeeded(self, user: str) -> None:
        await self.failures.clear(f"user:{user}")
