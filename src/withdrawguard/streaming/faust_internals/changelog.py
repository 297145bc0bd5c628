"""A batch's changelog records for one partition handed to aiokafka's producer together.

Through Faust's producer every record is a `send` of its own: Faust's wrapper, aiokafka's
`send` (metadata check, partitioner, accumulator), a future per record and, on the
broker's answer, each future resolved: about a tenth of the worker's samples for the
changelog records at 200,000 events (docs/performance.md). Here the records of one table
partition of one batch go into one aiokafka `BatchBuilder`, queued with `send_batch`: one
future for all, resolved with the batch's base offset, from which the last record's
offset follows (its offset within the batch is known when it is appended).

`send_batch` waits until every batch already queued for the partition has gone to the
broker; a batch agent must not wait there (the latency work overlaps batches), so when
something is queued for the partition, or the records do not fit one batch, they go
record by record as before, behind what is queued: the order on the partition is the
order handed over either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.structs import TopicPartition

from withdrawguard.contract.records import ProduceMany


def producer_batches(producer: Callable[[], AIOKafkaProducer]) -> ProduceMany:
    """`ProduceMany` over the aiokafka producer `producer()` returns (Faust's, once started)."""

    async def produce_many(
        topic: str, partition: int, records: Sequence[tuple[bytes, bytes]]
    ) -> Awaitable[int]:
        kafka = producer()
        queued = kafka._message_accumulator._batches.get(TopicPartition(topic, partition))
        if not queued and (batch := _one_batch(kafka, records)) is not None:
            builder, last = batch
            return _base_plus(await kafka.send_batch(builder, topic, partition=partition), last)
        sent = [await kafka.send(topic, v, key=k, partition=partition) for k, v in records]
        return _last_of(sent)

    return produce_many


def _one_batch(
    kafka: AIOKafkaProducer, records: Sequence[tuple[bytes, bytes]]
) -> tuple[Any, int] | None:
    """The records in one aiokafka batch, and the last one's offset within it; None when
    they do not fit in one (or there are none)."""
    builder = kafka.create_batch()
    last = None
    for key, value in records:
        appended = builder.append(key=key, value=value, timestamp=None)
        if appended is None:
            return None
        last = appended.offset
    return None if last is None else (builder, last)


def app_batches(app: Any) -> ProduceMany:
    """`producer_batches` over a Faust app's aiokafka producer (started with the app)."""
    return producer_batches(lambda: app.producer._ensure_producer())


async def _last_of(sent: list[Awaitable[Any]]) -> int:
    if not sent:
        raise ValueError("no records to produce")
    done = await asyncio.gather(*sent)
    offset: int = done[-1].offset
    return offset


async def _base_plus(batch: Awaitable[Any], relative: int) -> int:
    base: int = (await batch).offset
    return base + relative
