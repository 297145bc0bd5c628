"""`withdrawguard registry rebuild`: the registry again, from the compacted topics.

Deletes the deployment's registry keys (`keys.RegistryKeys.patterns`, never the
notifier's) and any left under the prefix used before keys were hash-tagged
(`keys.legacy_prefix`: clients of older versions then read `pending` and hold, rather
than a frozen copy), then reads `withdrawal-decisions`, `withdrawal-holds` and `fraud-alerts`
from the earliest offset up to the end offsets captured at the start, with a consumer
that has no group (`group_id=None`: it never joins the worker's group nor commits), and
projects every record as the registry sink does. A worker running meanwhile is
harmless: both write idempotently under WATCH. Until it is done, withdrawals not yet
rebuilt read `pending` (payment systems hold them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from withdrawguard.adapters.kafka_security import kafka_python_options
from withdrawguard.adapters.redis_connection import async_redis
from withdrawguard.adapters.registry_redis import RedisRegistry
from withdrawguard.contract.topics import TopicNames
from withdrawguard.registry.apply import apply_record
from withdrawguard.registry.keys import legacy_prefix, registry_prefix
from withdrawguard.registry.projection import SOURCES, BadRecord
from withdrawguard.settings import Settings

PROGRESS_SECONDS = 2.0


def rebuild(settings: Settings, out: Callable[[str], None] = print) -> int:
    """Rebuild the registry of `settings`' deployment; returns the records applied."""
    return asyncio.run(_rebuild(settings, out))


async def _rebuild(settings: Settings, out: Callable[[str], None]) -> int:
    names = TopicNames(settings)
    logical = {names.name(s): s for s in SOURCES}
    redis = async_redis(settings)
    store = RedisRegistry(redis, registry_prefix(settings.app_id), settings.redis_min_replicas)
    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        client_id="withdrawguard-registry-rebuild",
        **kafka_python_options(settings),
    )
    try:
        parts = [
            TopicPartition(name, p)
            for name in sorted(logical)
            for p in sorted(consumer.partitions_for_topic(name) or ())
        ]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        start = consumer.beginning_offsets(parts)
        stop = {tp: end for tp, end in consumer.end_offsets(parts).items() if end > start[tp]}
        total = sum(stop[tp] - start[tp] for tp in stop)
        deleted = await store.clear()
        out(f"registry {store.keys.prefix}: deleted {deleted} keys; {total} records to read")
        old = legacy_prefix(settings.app_id)
        legacy = await RedisRegistry(redis, old).clear()
        if legacy:
            out(f"deleted {legacy} keys of the layout before hash tags ({old})")
        applied = skipped = read = 0
        last = time.monotonic()
        while stop:
            batch: dict[Any, list[Any]] = await asyncio.to_thread(consumer.poll, 500)
            for tp, records in batch.items():
                for rec in records:
                    if tp not in stop or rec.offset >= stop[tp]:
                        continue
                    read += 1
                    try:
                        await apply_record(
                            store, logical[rec.topic], rec.partition, rec.offset, rec.value
                        )
                        applied += 1
                    except BadRecord as exc:
                        skipped += 1
                        out(f"skipped {rec.topic}[{rec.partition}]@{rec.offset}: {exc}")
            for tp in [tp for tp in stop if consumer.position(tp) >= stop[tp]]:
                del stop[tp]
            if time.monotonic() - last >= PROGRESS_SECONDS:
                last = time.monotonic()
                out(f"{read}/{total} records read")
        out(f"done: {read} records read, {applied} applied, {skipped} skipped")
        return applied
    finally:
        consumer.close()
        await redis.aclose()  # type: ignore[attr-defined]  # stubs predate aclose
