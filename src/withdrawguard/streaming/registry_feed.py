"""The registry feed: withdrawal verdicts, holds and alerts projected into Redis by a
consumer of its own that commits exactly what it wrote.

Why not a Faust agent. Faust commits a partition up to the first event its streams have
not acknowledged, but its bookkeeping has holes for this use: an event in flight when an
agent is cancelled is acknowledged by the stream's `finally`; offsets that look like a
gap in the fetched records (compacted topics have real ones) count as acknowledged; and
a single unacknowledged event at the head of a partition does not stop a commit
(`Consumer._new_offset`). The full-size fault runs showed the result twice: a hold record
the registry never applied was committed past, and the registry kept a stale hash until
`registry rebuild`. A projection into an external store is a sink, so it gets a sink's
consumer: a plain aiokafka consumer in its own group (`<app id>-registry`, see
`TopicNames.registry_group`), automatic commits off, and a commit of `offset + 1` only
after Redis took the record at `offset`. Nothing in between can move the offset.

Scaling is unchanged: every worker runs one feed in the same group, so the partitions of
the three output topics split between the workers as the detector's partitions do. A
rebalance commits what was applied on the partitions being revoked; a record applied
twice (by the old owner finishing while the new one starts) changes nothing, because
the projection keeps a withdrawal at the highest position it has seen per source.

While Redis is down or slow the feed retries the record in hand with capped backoff
(`apply_until_done`) and commits nothing past it; the detector's own agents never wait
for Redis. A worker stopped meanwhile resumes from that record.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import faust
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from withdrawguard.adapters.kafka_security import kafka_python_options
from withdrawguard.adapters.redis_connection import async_redis, redis_options
from withdrawguard.adapters.registry_redis import RedisRegistry
from withdrawguard.client import AsyncDecisionClient
from withdrawguard.registry.apply import RegistryStore
from withdrawguard.registry.keys import registry_prefix
from withdrawguard.registry.projection import SOURCES
from withdrawguard.settings import Settings
from withdrawguard.streaming.registry_retry import RegistryMetrics, apply_until_done
from withdrawguard.streaming.topics import TopicNames
from withdrawguard.web.decision_api import load_tokens, register_decision_api

log = logging.getLogger(__name__)

FETCH_MAX_RECORDS = 500
LAG_INTERVAL = 5.0
RESTART_DELAY = 2.0
REDIS_TIMEOUT = 2.0
STOP_WAIT = 10.0


class FeedMetrics(RegistryMetrics, Protocol):
    def registry_lag(self, lags: Mapping[tuple[str, int], int]) -> None: ...


Consumer = Any  # AIOKafkaConsumer, or a test double with the same few methods


def make_consumer(settings: Settings, topics: list[str], listener: Any) -> Consumer:
    """The feed's aiokafka consumer: its own group, no automatic commits."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=TopicNames(settings).registry_group(),
        client_id=f"{settings.app_id}-registry",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=FETCH_MAX_RECORDS,
        session_timeout_ms=int(settings.kafka_session_timeout * 1000),
        heartbeat_interval_ms=int(settings.kafka_heartbeat_interval * 1000),
        **kafka_python_options(settings),  # the same keyword names as kafka-python's
    )
    consumer.subscribe(topics, listener=listener)
    return consumer


class RegistryFeed:
    """Reads the output topics and applies each record to the registry, in order, then
    commits it. `logical` maps each concrete topic name to its logical one."""

    def __init__(
        self,
        store: RegistryStore,
        logical: Mapping[str, str],
        metrics: FeedMetrics,
        consumer_factory: Callable[[ConsumerRebalanceListener], Consumer],
    ) -> None:
        self._store = store
        self._logical = dict(logical)
        self._metrics = metrics
        self._factory = consumer_factory
        self._consumer: Consumer | None = None
        self._applied: dict[TopicPartition, int] = {}  # next offset, applied not committed
        self._next: dict[TopicPartition, int] = {}  # next offset to apply, for the lag
        self._stopping = False
        self._running = False
        self._done = asyncio.Event()
        self._lag_at = 0.0

    # ------------------------------------------------------------ running

    async def run(self) -> None:
        """Consume until `stop`; an unexpected failure restarts the consumer (logged)."""
        self._running = True
        try:
            while not self._stopping:
                consumer = self._factory(_Listener(self))
                self._consumer = consumer
                try:
                    await consumer.start()
                    await self._consume(consumer)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("registry feed failed; restarting its consumer")
                    await asyncio.sleep(RESTART_DELAY)
                finally:
                    await self._close(consumer)
        finally:
            self._running = False
            self._done.set()

    async def stop(self) -> None:
        """Leave the loop after the record in hand; what was applied is committed as the
        consumer closes. Waits up to STOP_WAIT s (Redis may be down: the record is then
        left uncommitted, and applied again by whoever reads the partition next)."""
        self._stopping = True
        if self._running:
            try:
                await asyncio.wait_for(self._done.wait(), STOP_WAIT)
            except TimeoutError:
                log.warning("registry feed did not stop within %.0f s", STOP_WAIT)

    async def _consume(self, consumer: Consumer) -> None:
        while not self._stopping:
            batch = await consumer.getmany(timeout_ms=500, max_records=FETCH_MAX_RECORDS)
            for tp, records in batch.items():
                for record in records:
                    if self._stopping or tp not in consumer.assignment():
                        break  # revoked meanwhile: the new owner starts from the commit
                    await apply_until_done(
                        self._store, self._logical[record.topic], record, self._metrics
                    )
                    if tp in consumer.assignment():  # else its new owner commits it
                        self._applied[tp] = self._next[tp] = record.offset + 1
            await self.commit(consumer)
            self._report_lag(consumer)

    async def commit(self, consumer: Consumer, only: set[TopicPartition] | None = None) -> None:
        """Commit the offsets after the records applied (all, or those of `only`)."""
        offsets = {tp: o for tp, o in self._applied.items() if only is None or tp in only}
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except KafkaError as exc:
            # Revoked or the group moved on: the new owner replays from the last commit
            # and the projection ignores what it already holds.
            log.info("registry feed commit not taken (%s); those records will be replayed", exc)
        for tp in offsets:
            if self._applied.get(tp) == offsets[tp]:
                del self._applied[tp]

    async def _close(self, consumer: Consumer) -> None:
        try:
            await self.commit(consumer)
        except Exception:
            log.warning("registry feed: final commit failed", exc_info=True)
        try:
            await consumer.stop()
        except Exception:
            log.warning("registry feed: consumer did not stop cleanly", exc_info=True)
        self._applied.clear()
        self._next.clear()

    async def revoked(self, revoked: set[TopicPartition]) -> None:
        """Partitions leaving this worker: commit what was applied on them, forget them."""
        if self._consumer is not None and revoked:
            await self.commit(self._consumer, revoked)
        for tp in revoked:
            self._applied.pop(tp, None)
            self._next.pop(tp, None)

    def _report_lag(self, consumer: Consumer) -> None:
        now = time.monotonic()
        if now - self._lag_at < LAG_INTERVAL:
            return
        self._lag_at = now
        lags: dict[tuple[str, int], int] = {}
        for tp in consumer.assignment():
            end, done = consumer.highwater(tp), self._next.get(tp)
            if end is not None and done is not None:
                lags[(tp.topic, tp.partition)] = max(0, end - done)
        self._metrics.registry_lag(lags)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # untyped base
    def __init__(self, feed: RegistryFeed) -> None:
        self._feed = feed

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._feed.revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("registry feed assigned %d partitions", len(assigned))


def register_registry(app: faust.App, settings: Settings, metrics: FeedMetrics) -> RegistryFeed:
    """Run the registry feed with the worker, and serve the decision API (one Redis
    connection pool each)."""
    writer = async_redis(
        settings, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
    )
    names = TopicNames(settings)
    logical = {names.name(s): s for s in SOURCES}
    feed = RegistryFeed(
        RedisRegistry(writer, registry_prefix(settings.app_id)),
        logical,
        metrics,
        lambda listener: make_consumer(settings, list(logical), listener),
    )
    app.task(feed.run)
    reader = AsyncDecisionClient(settings.redis_url, settings.app_id, **redis_options(settings))
    register_decision_api(app, reader, load_tokens(settings.service_tokens_file))

    async def close(app: Any, **kwargs: Any) -> None:
        await feed.stop()
        await writer.aclose()  # type: ignore[attr-defined]  # stubs predate aclose
        await reader.aclose()

    app.on_before_shutdown.connect(close)  # type: ignore[arg-type]  # async receivers are awaited
    return feed
