"""A table partition's changelog records of a batch handed to aiokafka together
(`faust_internals.changelog`), on the real broker: they arrive in the order handed over,
behind whatever was queued for the partition, and the offset answered is the last one's;
records that do not fit in one batch, or a partition with something queued, go one by
one, in the same order."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from tests.integration.harness import unique
from withdrawguard.settings import Settings
from withdrawguard.streaming.faust_internals.changelog import producer_batches

pytestmark = pytest.mark.integration


def _topic(settings: Settings) -> str:
    name = unique(f"{settings.topic_prefix}changelog-batches")
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=1)])
    finally:
        admin.close()
    return name


Row = tuple[int, bytes, bytes]
BIG = [(b"x", b"X" * 900), (b"y", b"Y" * 900), (b"z", b"Z" * 900)]
"""More than one 2 KiB batch holds."""


async def _read(settings: Settings, topic: str, partition: int, count: int) -> list[Row]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        got: list[Row] = []
        while len(got) < count:
            batch = await consumer.getmany(tp, timeout_ms=5000)
            assert batch, f"only {len(got)} of {count} records arrived"
            got += [(r.offset, r.key, r.value) for r in batch[tp]]
        return got
    finally:
        await consumer.stop()


def test_records_handed_over_together_arrive_in_order_with_the_last_offset_answered(
    settings: Settings,
) -> None:
    topic = _topic(settings)

    async def go() -> tuple[list[Row], list[Row]]:
        # Batches of at most 2 KiB, lingering 200 ms: the second and third hand-overs
        # find the first still queued; the fourth, alone on partition 0, does not fit in
        # one batch.
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap_servers,
            acks="all",
            linger_ms=200,
            max_batch_size=2048,
        )
        await producer.start()
        try:
            many = producer_batches(lambda: producer)
            first = await many(topic, 1, [(b"a", b"A1"), (b"b", b"B1"), (b"c", b"C1")])
            second = await many(topic, 1, [(b"a", b"A2")])
            third = await many(topic, 1, [(b"d", b"D" * 900), (b"e", b"E" * 900), (b"f", b"F")])
            fourth = await many(topic, 0, BIG)
            offsets = await asyncio.gather(first, second, third, fourth)
            assert offsets == [2, 3, 6, 2]
        finally:
            await producer.stop()
        return await _read(settings, topic, 1, 7), await _read(settings, topic, 0, 3)

    got, alone = asyncio.run(go())
    assert [(o, k, v) for o, k, v in alone] == [(n, k, v) for n, (k, v) in enumerate(BIG)]
    assert [(o, k) for o, k, _ in got] == [
        (0, b"a"),
        (1, b"b"),
        (2, b"c"),
        (3, b"a"),
        (4, b"d"),
        (5, b"e"),
        (6, b"f"),
    ]
    assert got[3][2] == b"A2" and got[4][2] == b"D" * 900
