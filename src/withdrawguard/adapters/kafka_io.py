"""Kafka for a short-lived process (the `withdrawguard cases` command line): a producer
as a `contract.records.Produce` that waits for every replica, and a reader of a whole
topic from its start to its end as it was when asked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

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
    await producer.start()

    async def produce(record: Record) -> Any:
        topic, key, value, partition, timestamp = record
        ms = None if timestamp is None else int(timestamp * 1000)
        return await producer.send(topic, value, key=key, partition=partition, timestamp_ms=ms)

    try:
        yield produce
    finally:
        await producer.stop()


async def read_topic(settings: Settings, topic: str) -> AsyncIterator[bytes]:
    """Every record value of `topic`, partition by partition in offset order, up to the
    end offsets it had when the read began (no consumer group, nothing committed)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        **kafka_python_options(settings),
    )
    await consumer.start()
    try:
        await consumer.topics()  # fills the cluster metadata partitions_for_topic reads
        parts = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not parts:
            return
        ends = await consumer.end_offsets(parts)
        for tp in parts:
            if ends[tp] == 0:
                continue
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            while (await consumer.position(tp)) < ends[tp]:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                for record in batch.get(tp, []):
                    if record.offset < ends[tp] and record.value is not None:
                        yield record.value
    finally:
        await consumer.stop()
