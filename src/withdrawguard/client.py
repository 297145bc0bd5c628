"""For payment systems: is this withdrawal allowed, held, or not decided yet?

    from withdrawguard.client import DecisionClient

    with DecisionClient("rediss://redis.internal:6380/0", app_id="withdrawguard",
                        password=..., ssl_ca_certs="/etc/ssl/our-ca.pem") as client:
        answer = client.await_decision("W-88412", timeout=2.0)
        if answer.may_pay_out:
            ...

Both flavours read the hold registry the worker keeps in Redis (`withdrawguard.registry`).
They fail closed: `decision()` answers `hold` (with `fail_closed=True` and `error`) when
Redis cannot be reached, and `await_decision()` answers `hold` when no verdict arrived by
the timeout. Keyword arguments beyond `redis_client`, `mode`, `sentinels` and
`sentinel_master` go to redis-py (`password`, `username`, `ssl_ca_certs`, `ssl_certfile`,
`ssl_keyfile`...). For a Redis Cluster pass `mode="cluster"` (the URL names any node);
for Sentinel `mode="sentinel"`, `sentinels=["host:port", ...]` and `sentinel_master`
(the URL then gives only the scheme and database). See docs/payment-integration.md,
docs/deploy.md and docs/security.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Protocol, Self

import redis
import redis.asyncio

from withdrawguard.adapters.redis_topology import async_client, sync_client
from withdrawguard.registry.decision import Decision, fail_closed, read_decision
from withdrawguard.registry.keys import RegistryKeys, registry_prefix
from withdrawguard.settings.redis import Topology

__all__ = ["AsyncDecisionClient", "Decision", "DecisionClient"]

POLL_SECONDS = 0.02
"""How often `await_decision` looks again while the answer is pending."""
SOCKET_TIMEOUT = 0.5


class HashReader(Protocol):
    def hgetall(self, name: str) -> object: ...


class AsyncHashReader(Protocol):
    async def hgetall(self, name: str) -> object: ...


class DecisionClient:
    """Synchronous client. `redis` replaces the connection (tests pass a fake)."""

    def __init__(
        self,
        redis_url: str,
        app_id: str = "withdrawguard",
        *,
        redis_client: HashReader | None = None,
        mode: str = "standalone",
        sentinels: Sequence[str] = (),
        sentinel_master: str = "",
        **redis_options: Any,
    ) -> None:
        self._keys = RegistryKeys(registry_prefix(app_id))
        self._writer = WriterSeen(app_id, self._keys.writer)
        where = Topology.of(mode, redis_url, sentinels, sentinel_master)
        self._redis: HashReader = redis_client or sync_client(
            where,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=SOCKET_TIMEOUT,
            **redis_options,
        )

    def decision(self, withdrawal_id: str) -> Decision:
        """The current answer: `allow`, `hold` or `pending`; `hold` when Redis fails."""
        try:
            raw = self._redis.hgetall(self._keys.withdrawal(withdrawal_id))
        except (redis.RedisError, OSError) as exc:
            return fail_closed(withdrawal_id, f"registry unavailable: {exc}")
        return read_decision(withdrawal_id, _text(raw))

    def await_decision(self, withdrawal_id: str, timeout: float) -> Decision:
        """Wait up to `timeout` seconds for a verdict; `hold` if none came (fail closed).

        May overrun `timeout` by one Redis round trip (at most the socket timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            answer = self.decision(withdrawal_id)
            if answer.decision != "pending" and not answer.fail_closed:
                return answer
            if answer.decision == "pending" and self._writer.due(time.monotonic()):
                with contextlib.suppress(redis.RedisError, OSError):
                    self._writer.saw(_text(self._redis.hgetall(self._keys.writer)))
            if time.monotonic() >= deadline:
                return _timed_out(withdrawal_id, timeout, answer, self._writer.hint)
            time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))

    def close(self) -> None:
        close = getattr(self._redis, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncDecisionClient:
    """asyncio client, same answers as `DecisionClient`."""

    def __init__(
        self,
        redis_url: str,
        app_id: str = "withdrawguard",
        *,
        redis_client: AsyncHashReader | None = None,
        mode: str = "standalone",
        sentinels: Sequence[str] = (),
        sentinel_master: str = "",
        **redis_options: Any,
    ) -> None:
        self._keys = RegistryKeys(registry_prefix(app_id))
        self._writer = WriterSeen(app_id, self._keys.writer)
        where = Topology.of(mode, redis_url, sentinels, sentinel_master)
        self._redis: AsyncHashReader = redis_client or async_client(
            where,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=SOCKET_TIMEOUT,
            **redis_options,
        )

    async def decision(self, withdrawal_id: str) -> Decision:
        try:
            raw = await self._redis.hgetall(self._keys.withdrawal(withdrawal_id))
        except (redis.RedisError, OSError) as exc:
            return fail_closed(withdrawal_id, f"registry unavailable: {exc}")
        return read_decision(withdrawal_id, _text(raw))

    async def await_decision(
        self,
        withdrawal_id: str,
        timeout: float,  # noqa: ASYNC109 - on timeout it answers hold, it never raises
    ) -> Decision:
        """Wait up to `timeout` seconds for a verdict; `hold` if none came (fail closed)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        answer = Decision(withdrawal_id, "pending")
        while True:
            left = deadline - loop.time()
            if left <= 0:
                return _timed_out(withdrawal_id, timeout, answer, self._writer.hint)
            try:
                answer = await asyncio.wait_for(self.decision(withdrawal_id), left)
            except TimeoutError:
                return _timed_out(withdrawal_id, timeout, answer, self._writer.hint)
            if answer.decision != "pending" and not answer.fail_closed:
                return answer
            if answer.decision == "pending" and self._writer.due(loop.time()):
                with contextlib.suppress(redis.RedisError, OSError, TimeoutError):
                    key = self._keys.writer
                    left = max(0.001, deadline - loop.time())
                    self._writer.saw(_text(await asyncio.wait_for(self._redis.hgetall(key), left)))
            await asyncio.sleep(min(POLL_SECONDS, max(0.0, deadline - loop.time())))

    async def aclose(self) -> None:
        close = getattr(self._redis, "aclose", None)
        if close is not None:
            await close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class WriterSeen:
    """Whether a worker of this client's app id writes to this Redis: looked up (at most
    once a minute, while a withdrawal is pending anyway) so that a timeout caused by a
    mistyped app id says so instead of only "no verdict"."""

    RECHECK_S = 60.0

    def __init__(self, app_id: str, key: str) -> None:
        self._app_id, self._key = app_id, key
        self._seen: bool | None = None
        self._checked_at: float | None = None

    def due(self, now: float) -> bool:
        if self._seen:
            return False
        if self._checked_at is None or now - self._checked_at >= self.RECHECK_S:
            self._checked_at = now
            return True
        return False

    def saw(self, marker: dict[str, str]) -> None:
        self._seen = bool(marker)

    @property
    def hint(self) -> str | None:
        if self._seen is not False:
            return None
        return (
            f"no withdrawguard worker of app id {self._app_id!r} has written to this Redis "
            f"(no {self._key}): check the client's app_id (the workers' WG_APP_ID) and Redis URL"
        )


def _timed_out(
    withdrawal_id: str, timeout: float, last: Decision, hint: str | None = None
) -> Decision:
    why = last.error if last.fail_closed and last.error else f"no verdict within {timeout:g}s"
    return fail_closed(withdrawal_id, why if hint is None else f"{why}; {hint}")


def _text(raw: object) -> dict[str, str]:
    if not isinstance(raw, dict):
        return {}
    return {_s(k): _s(v) for k, v in raw.items()}


def _s(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
