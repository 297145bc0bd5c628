"""The registry sink commits exactly what Redis took: never past a record not yet
applied, per partition, on every batch and on a rebalance."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition

from tests.unit.registry_fakes import MemoryRegistry
from tests.unit.test_registry_projection import HELD_THEN_RELEASED
from tests.unit.test_registry_retry import FlakyRegistry
from withdrawguard.registry.projection import DECISIONS, HOLDS
from withdrawguard.streaming.sinks.consumer import SinkConsumer
from withdrawguard.streaming.sinks.registry import registry_handler

LOGICAL = {"p.withdrawal-decisions": DECISIONS, "p.withdrawal-holds": HOLDS}
CONCRETE = {v: k for k, v in LOGICAL.items()}


@dataclass
class Rec:
    topic: str
    partition: int
    offset: int
    value: bytes


@dataclass
class Counts:
    writes: int = 0
    retries: int = 0
    lags: list[dict[tuple[str, int], int]] = field(default_factory=list)

    def registry_write(self, topic: str) -> None:
        self.writes += 1

    def registry_retry(self) -> None:
        self.retries += 1

    def registry_lag(self, lags: Mapping[tuple[str, int], int]) -> None:
        self.lags.append(dict(lags))


@dataclass
class FakeConsumer:
    """The few aiokafka consumer methods the feed calls; batches are served in order,
    then `on_empty` runs (it may stop the feed or revoke partitions)."""

    batches: list[dict[TopicPartition, list[Rec]]]
    feed: SinkConsumer | None = None
    listener: Any = None
    assigned: set[TopicPartition] = field(default_factory=set)
    commits: list[dict[TopicPartition, int]] = field(default_factory=list)
    started: int = 0
    stopped: int = 0
    fail_on_fetch: BaseException | None = None
    stopping: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.started += 1

    async def stop(self) -> None:
        self.stopped += 1

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def highwater(self, tp: TopicPartition) -> int | None:
        return 100

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Rec]]:
        if self.fail_on_fetch is not None:
            exc, self.fail_on_fetch = self.fail_on_fetch, None
            raise exc
        if self.batches:
            return self.batches.pop(0)
        assert self.feed is not None
        if self.stopping is None:  # stop() waits for run() to end, so not from inside it
            self.stopping = asyncio.get_running_loop().create_task(self.feed.stop())
        await asyncio.sleep(0)
        return {}


def records() -> list[Rec]:
    return [Rec(CONCRETE[topic], p, o, v) for topic, p, o, v in HELD_THEN_RELEASED]


def tp_of(r: Rec) -> TopicPartition:
    return TopicPartition(r.topic, r.partition)


def feed_with(consumers: list[FakeConsumer], store: Any, counts: Counts) -> SinkConsumer:
    made = iter(consumers)

    def factory(listener: Any) -> FakeConsumer:
        consumer = next(made)
        consumer.listener = listener
        consumer.feed = feed
        return consumer

    feed = SinkConsumer(
        "feed", registry_handler(store, LOGICAL, counts), factory, counts.registry_lag
    )
    return feed


async def test_each_partition_is_committed_after_its_last_applied_record() -> None:
    recs = records()
    batch: dict[TopicPartition, list[Rec]] = {}
    for r in recs:
        batch.setdefault(tp_of(r), []).append(r)
    consumer = FakeConsumer([batch], assigned=set(batch))
    store, counts = MemoryRegistry(), Counts()
    await feed_with([consumer], store, counts).run()

    assert counts.writes == 4
    assert (await store.withdrawal("W1"))["hold_status"] == "released"
    decisions, holds = TopicPartition(CONCRETE[DECISIONS], 2), TopicPartition(CONCRETE[HOLDS], 4)
    assert consumer.commits == [{decisions: 12, holds: 9}]  # the offsets after 11 and 8
    assert consumer.stopped == 1


async def test_while_redis_refuses_a_record_nothing_past_it_is_committed() -> None:
    first, second = records()[0], records()[2]  # offsets 10 and 11 of one partition
    tp = tp_of(first)
    seen: list[list[dict[TopicPartition, int]]] = []
    store = FlakyRegistry(failures=3)

    class Watching(FakeConsumer):
        async def commit(self, offsets: dict[TopicPartition, int]) -> None:
            seen.append([dict(offsets)])
            # Redis had to take every record up to the committed offset.
            h = await store.withdrawal("W1")
            assert h["src_withdrawal-decisions"] == f"2:{offsets[tp] - 1}"
            await super().commit(offsets)

    consumer = Watching([{tp: [first]}, {tp: [second]}], assigned={tp})
    counts = Counts()
    await feed_with([consumer], store, counts).run()
    assert counts.retries == 3
    assert consumer.commits == [{tp: 11}, {tp: 12}]


async def test_a_partition_revoked_mid_batch_is_neither_applied_further_nor_committed() -> None:
    recs = records()
    decisions, holds = tp_of(recs[0]), tp_of(recs[1])
    consumer = FakeConsumer([{decisions: [recs[0]]}, {holds: [recs[1], recs[3]]}])
    consumer.assigned = {decisions, holds}
    store, counts = MemoryRegistry(), Counts()

    class RevokingStore(MemoryRegistry):
        async def update_withdrawal(self, withdrawal_id: str, change: Any) -> bool:
            if counts.writes == 1 and holds in consumer.assigned:
                # A rebalance takes the holds partition while its offset 7 is in flight
                # (aiokafka calls the listener before it changes the assignment).
                await consumer.listener.on_partitions_revoked({holds})
                consumer.assigned.discard(holds)
            return await store.update_withdrawal(withdrawal_id, change)

    await feed_with([consumer], RevokingStore(), counts).run()
    # The revocation commits below the record in flight (7), never past it.
    assert consumer.commits == [{decisions: 11}, {holds: 7}]
    h = await store.withdrawal("W1")
    assert h["src_withdrawal-holds"] == "4:7"  # the record in flight completed,
    assert h["hold_status"] == "held"  # the next (offset 8, the release) is the new owner's


async def test_an_unexpected_failure_restarts_the_consumer(monkeypatch: Any) -> None:
    import withdrawguard.streaming.sinks.consumer as module

    monkeypatch.setattr(module, "RESTART_DELAY", 0.0)
    recs = records()
    broken = FakeConsumer([], fail_on_fetch=RuntimeError("boom"))
    fresh = FakeConsumer([{tp_of(recs[0]): [recs[0]]}], assigned={tp_of(recs[0])})
    store, counts = MemoryRegistry(), Counts()
    await asyncio.wait_for(feed_with([broken, fresh], store, counts).run(), 5)
    assert broken.started == broken.stopped == 1
    assert fresh.commits == [{tp_of(recs[0]): 11}]
    assert (await store.withdrawal("W1"))["decision"] == "hold"


async def test_lag_is_reported_per_partition_from_the_high_water_mark() -> None:
    recs = records()
    tp = tp_of(recs[0])
    consumer = FakeConsumer([{tp: [recs[0]]}], assigned={tp})
    counts = Counts()
    await feed_with([consumer], MemoryRegistry(), counts).run()
    assert counts.lags[0] == {(tp.topic, tp.partition): 100 - 11}
