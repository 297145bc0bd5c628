"""Seeking back to the committed offsets on the real broker
(streaming/faust_internals/transport.py):
aiokafka leaves a partition with no committed offset (or one at 0) where its fetching
took it, so records Faust discarded there are skipped; the fix puts such a stream
partition where the reset policy says and leaves table changelogs to the restore."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from withdrawguard.streaming.faust_internals.transport import seek_to_committed_or_reset

pytestmark = pytest.mark.integration

RECORDS = 5


@pytest.fixture
async def consumer(services: tuple[str, str]) -> AsyncIterator[AIOKafkaConsumer]:
    """A group consumer assigned partition 0 of a stream topic and of a "changelog", both
    holding RECORDS records and both read to their end, nothing committed."""
    bootstrap = services[0]
    run = uuid.uuid4().hex[:8]
    stream, changelog = f"seek-{run}.logins", f"seek-{run}-customers-changelog"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(t, 1, 1) for t in (stream, changelog)])
    finally:
        admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for topic in (stream, changelog):
            for i in range(RECORDS):
                await producer.send_and_wait(topic, f"{i}".encode(), partition=0)
    finally:
        await producer.stop()
    c = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"seek-{run}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await c.start()
    try:
        c.assign([TopicPartition(stream, 0), TopicPartition(changelog, 0)])
        read = 0
        while read < 2 * RECORDS:
            batch = await c.getmany(timeout_ms=5000)
            assert batch, "the broker delivered nothing in 5 s"
            read += sum(len(records) for records in batch.values())
        yield c
    finally:
        await c.stop()


def _tps(c: AIOKafkaConsumer) -> tuple[TopicPartition, TopicPartition]:
    stream, changelog = sorted(c.assignment(), key=lambda tp: tp.topic.endswith("-changelog"))
    return stream, changelog


def _is_stream(topic: str) -> bool:
    return not topic.endswith("-changelog")


async def test_aiokafka_alone_leaves_an_uncommitted_partition_past_what_it_fetched(
    consumer: AIOKafkaConsumer,
) -> None:
    stream, _ = _tps(consumer)
    assert (await consumer.seek_to_committed())[stream] is None
    assert await consumer.position(stream) == RECORDS  # what Faust discarded is skipped


async def test_an_uncommitted_stream_partition_goes_back_to_its_beginning(
    consumer: AIOKafkaConsumer,
) -> None:
    stream, changelog = _tps(consumer)
    committed = await seek_to_committed_or_reset(consumer, _is_stream, "earliest")
    assert committed == {stream: None, changelog: None}  # what Faust takes as read/committed
    assert await consumer.position(stream) == 0
    assert await consumer.position(changelog) == RECORDS  # the restore positions changelogs


async def test_with_latest_it_goes_to_the_end_as_a_new_partition_would(
    consumer: AIOKafkaConsumer,
) -> None:
    stream, _ = _tps(consumer)
    consumer.seek(stream, 2)
    await seek_to_committed_or_reset(consumer, _is_stream, "latest")
    assert await consumer.position(stream) == RECORDS


async def test_a_partition_committed_at_zero_goes_back_to_zero(consumer: AIOKafkaConsumer) -> None:
    stream, _ = _tps(consumer)
    await consumer.commit({stream: OffsetAndMetadata(0, "")})
    assert (await seek_to_committed_or_reset(consumer, _is_stream, "earliest"))[stream] == 0
    assert await consumer.position(stream) == 0


async def test_a_committed_partition_goes_to_its_committed_offset(
    consumer: AIOKafkaConsumer,
) -> None:
    stream, _ = _tps(consumer)
    await consumer.commit({stream: OffsetAndMetadata(3, "")})
    assert (await seek_to_committed_or_reset(consumer, _is_stream, "earliest"))[stream] == 3
    assert await consumer.position(stream) == 3
