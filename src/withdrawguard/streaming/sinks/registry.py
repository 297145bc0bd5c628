"""The registry feed: withdrawal verdicts, holds and alerts projected into the Redis hold
registry by a sink consumer (`sink.SinkConsumer`) in the group `<app id>-registry`.

Each record is applied in order and finished once Redis took it, so nothing past a record
Redis has not taken is committed (`sink` says why this is not a Faust agent). While Redis
is down or slow the feed retries the record in hand with capped backoff
(`registry_retry.apply_until_done`); the detector's own agents never wait for Redis. A
worker stopped meanwhile resumes from that record; records applied twice change nothing,
because the projection keeps a withdrawal at the highest position it has seen per source.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import faust

from withdrawguard.adapters.redis_connection import async_redis
from withdrawguard.adapters.registry_redis import RedisRegistry
from withdrawguard.contract.topics import TopicNames
from withdrawguard.registry.apply import RegistryStore
from withdrawguard.registry.keys import registry_prefix
from withdrawguard.registry.projection import SOURCES
from withdrawguard.settings import Settings
from withdrawguard.streaming.sinks.consumer import (
    Done,
    Handler,
    Record,
    SinkConsumer,
    make_consumer,
)
from withdrawguard.streaming.sinks.registry_retry import RegistryMetrics, apply_until_done

REDIS_TIMEOUT = 2.0


class RegistrySinkMetrics(RegistryMetrics, Protocol):
    def registry_lag(self, lags: Mapping[tuple[str, int], int]) -> None:
        """Records of each output partition this worker's registry feed has not applied."""


def registry_handler(
    store: RegistryStore, logical: Mapping[str, str], metrics: RegistryMetrics
) -> Handler:
    """Apply one record (retrying while Redis fails), then finish it."""

    async def handle(record: Record, done: Done) -> None:
        await apply_until_done(store, logical[record.topic], record, metrics)
        done()

    return handle


def register_registry(
    app: faust.App, settings: Settings, metrics: RegistrySinkMetrics
) -> SinkConsumer:
    """Run the registry sink with the worker (a Redis connection pool of its own)."""
    writer = async_redis(
        settings, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
    )
    names = TopicNames(settings)
    logical = {names.name(s): s for s in SOURCES}
    store = RedisRegistry(writer, registry_prefix(settings.app_id), settings.redis_min_replicas)
    group = names.sink_group("registry")
    feed = SinkConsumer(
        "registry feed",
        registry_handler(store, logical, metrics),
        lambda listener: make_consumer(settings, group, list(logical), listener),
        metrics.registry_lag,
    )
    app.task(feed.run)

    async def close(app: Any, **kwargs: Any) -> None:
        await feed.stop()
        await writer.aclose()  # type: ignore[attr-defined]  # stubs predate aclose

    app.on_before_shutdown.connect(close)  # type: ignore[arg-type]  # async receivers are awaited
    return feed
