"""Reading the control topics (docs/contract.md) the way every worker does: one aiokafka
consumer without a group, assigned every partition, so each worker sees every record.
Shared by the engine feed (`engine_feed.py`) and the console's policy page feed
(`policy_feed.py`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from withdrawguard.adapters.kafka_security import kafka_python_options
from withdrawguard.settings import Settings
from withdrawguard.streaming.faust_internals.introspect import fresh_metadata
from withdrawguard.streaming.faust_internals.kafka_client import reset_safe_consumer


def group_free_consumer(settings: Settings, purpose: str) -> AIOKafkaConsumer:
    """A consumer of no group that commits nothing and reads committed records only
    (not started), with a reset-safe client (a broker reset must not end its metadata
    task: issue 25)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        # committed records only: a policy action is written in one transaction, and
        # an aborted one must never be followed (adapters/policy_writes.py)
        isolation_level="read_committed",
        client_id=f"{settings.app_id}-{purpose}",
        **kafka_python_options(settings),
    )
    return reset_safe_consumer(consumer)


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """Every partition of `topic`, from fresh cluster metadata; LookupError if the topic
    does not exist.

    Not `consumer.topics()` with `partitions_for_topic`: the first fetches the metadata
    but keeps only the names (aiokafka 0.14), and the consumer's own metadata knows no
    topic it has not followed yet."""
    cluster = await fresh_metadata(consumer)
    found = cluster.partitions_for_topic(topic)
    if not found:
        raise LookupError(f"topic {topic} does not exist yet")
    return [TopicPartition(topic, p) for p in sorted(found)]


RETRY_S = 2.0
"""Seconds before a feed reads its topics again after a failure."""


async def follow_forever(
    follow: Callable[[], Awaitable[None]], what: str, log: logging.Logger
) -> None:
    """Run `follow` until cancelled; after any failure (the broker away, a reassignment)
    say so and run it again, from the start, after `RETRY_S`."""
    while True:
        try:
            await follow()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - logged; read again after a pause
            log.warning("%s: %s: %s; reading again", what, type(exc).__name__, exc)
        await asyncio.sleep(RETRY_S)
