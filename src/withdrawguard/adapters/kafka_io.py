"""Kafka for a short-lived process (the `withdrawguard cases` command line): a producer
as a `contract.records.Produce` that waits for every replica, and a reader of a whole
topic from its start to its end as it was when asked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from withdrawguard.adapters.kafka_security import kafka_python_options
from withdrawguard.contract.records import Produce, Record
from withdrawguard.settings import Settings


@asynccontextmanager
async def kafka_produce(settings: Settings) -> AsyncIterator[Produce]:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        acks="all",
        enable_idempotence=True,  # a retried send is not written twice, nor out of order
        **kafka_python_options(settings),
    )
    try:
        await producer.start()
    except BaseException:
        await producer.stop()  # a failed start leaves its client open
        raise

    async def produce(record: Record) -> Any:
        topic, key, value, partition, timestamp = record
        ms = None if timestamp is None else int(timestamp * 1000)
        return await producer.send(topic, value, key=key, partition=partition, timestamp_ms=ms)

    try:
        yield produce
    finally:
        await producer.stop()


async def read_topic(settings: Settings, topic: str, wait_s: float = 30) -> AsyncIterator[bytes]:
    """Every record value of `topic`, each partition in offset order, up to the end
    offsets it had when the read began (no consumer group, nothing committed)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.bootstrap_servers,
        group_id=None,  # every partition assigned to us, from the earliest offset
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **kafka_python_options(settings),
    )
    try:
        await consumer.start()
        deadline = asyncio.get_running_loop().time() + wait_s
        while not consumer.assignment():
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"no partitions of {topic} within {wait_s:.0f} s")
            await asyncio.sleep(0.05)
        parts = sorted(consumer.assignment())
        ends = await consumer.end_offsets(parts)
        left = {tp for tp in parts if ends[tp] > 0}
        while left:
            batch = await consumer.getmany(*left, timeout_ms=1000)
            for tp, records in batch.items():
                for record in records:
                    if record.offset < ends[tp] and record.value is not None:
                        yield record.value
            left = {tp for tp in left if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
