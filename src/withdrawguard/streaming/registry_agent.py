"""The `registry` agent: withdrawal verdicts, holds and alerts projected into Redis.

It reads `withdrawal-decisions`, `withdrawal-holds` and `fraud-alerts` at concurrency 1
and writes each record into the hold registry (`withdrawguard.registry`), apart from the
detector's agents, which never wait for Redis.

Not losing its place. Faust acknowledges an event when the agent asks its stream for the
next one (`Stream._py_aiter`: `event.ack()` runs in the `finally` after the `yield`), and
commits a partition's offset only up to the first event not yet acknowledged
(`Consumer._new_offset`). So while Redis is down or slow the agent does not return from
the record it is writing: it retries with capped exponential backoff (0.1 s doubling to
2 s, with jitter), and the offset stays at that record. A worker stopped meanwhile starts
again from it; when Redis returns the agent catches up from there. Writes are idempotent,
so records seen twice change nothing.

While it waits, its own buffer fills; past Faust's high-water mark (stream_buffer_maxsize
/ 1.25, about 3,300 records) Faust stops fetching the partitions it reads. Those are
output topics: detection is unaffected; the `notify` agent, which also reads
`fraud-alerts` (and `withdrawal-holds` for PagerDuty), then waits with it. It does not
read `case-decisions`: that input is the detector's, and every case decision that takes
effect is re-issued on `withdrawal-holds` and `withdrawal-decisions` with actor and note.

A record it cannot read is logged and skipped (the withdrawal then reads `pending`, which
payment systems treat as `hold`).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import faust
from redis.exceptions import RedisError

from withdrawguard.adapters.redis_connection import async_redis, redis_options
from withdrawguard.adapters.registry_redis import RedisRegistry
from withdrawguard.client import AsyncDecisionClient
from withdrawguard.registry.apply import RegistryStore, apply_record
from withdrawguard.registry.keys import registry_prefix
from withdrawguard.registry.projection import SOURCES, BadRecord
from withdrawguard.settings import Settings
from withdrawguard.streaming.topics import TopicNames
from withdrawguard.web.decision_api import load_tokens, register_decision_api

log = logging.getLogger(__name__)
REDIS_TIMEOUT = 2.0


class RegistryMetrics(Protocol):
    def registry_write(self, topic: str) -> None: ...

    def registry_retry(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Backoff:
    base: float = 0.1
    cap: float = 2.0

    def delay(self, attempt: int) -> float:
        ceiling = min(self.cap, self.base * 2.0 ** min(attempt, 30))
        return ceiling * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not secrecy


async def apply_until_done(
    store: RegistryStore,
    topic: str,
    message: Any,  # a faust Message: partition, offset, value
    metrics: RegistryMetrics,
    backoff: Backoff = Backoff(),
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> bool:
    """Write one record, retrying while Redis fails; False when it was skipped."""
    attempt = 0
    while True:
        try:
            changed = await apply_record(
                store, topic, message.partition, message.offset, message.value
            )
        except BadRecord as exc:
            log.error("registry skips %s[%s]@%s: %s", topic, message.partition, message.offset, exc)
            return False
        except (RedisError, OSError, TimeoutError) as exc:
            metrics.registry_retry()
            if attempt % 20 == 0:
                log.warning("registry write failed (attempt %d), retrying: %s", attempt + 1, exc)
            await sleep(backoff.delay(attempt))
            attempt += 1
            continue
        if attempt:
            log.info("registry write succeeded after %d retries", attempt)
        if changed:
            metrics.registry_write(topic)
        return True


def register_registry(app: faust.App, settings: Settings, metrics: RegistryMetrics) -> None:
    """Add the `registry` agent and the decision API (one Redis connection pool each)."""
    prefix = registry_prefix(settings.app_id)
    writer = async_redis(
        settings, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
    )
    store = RedisRegistry(writer, prefix)
    names = TopicNames(settings)
    logical = {names.name(s): s for s in SOURCES}
    topic = app.topic(
        *logical,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.partitions,
    )

    async def registry(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for event in stream.events():
            msg = event.message
            await apply_until_done(store, logical[msg.topic], msg, metrics)
            yield None

    app.agent(topic, name="registry", concurrency=1)(registry)
    reader = AsyncDecisionClient(settings.redis_url, settings.app_id, **redis_options(settings))
    register_decision_api(app, reader, load_tokens(settings.service_tokens_file))

    async def close(app: Any, **kwargs: Any) -> None:
        await writer.aclose()  # type: ignore[attr-defined]  # stubs predate aclose
        await reader.aclose()

    app.on_before_shutdown.connect(close)  # type: ignore[arg-type]  # async receivers are awaited
