"""Sinks that finish records out of order (notifications: an alert waits for a digest
while the next is sent) commit only below the first unfinished record, on every fetch
and when a partition is revoked."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import TopicPartition

from tests.unit.test_registry_sink import FakeConsumer, Rec
from withdrawguard.streaming.sinks.consumer import Done, SinkConsumer, Together
from withdrawguard.streaming.sinks.offsets import OffsetTracker

TP0 = TopicPartition("alerts", 0)


def test_the_committable_offset_stops_at_the_first_unfinished_record() -> None:
    t = OffsetTracker()
    assert t.committable() is None
    for offset in (10, 11, 12):
        t.begin(offset)
    t.finish(11)
    t.finish(12)
    assert t.committable() == 10 and t.in_flight == 1
    t.finish(10)
    assert t.committable() == 13


def test_gaps_in_the_offsets_are_allowed() -> None:
    t = OffsetTracker()
    t.begin(10)
    t.begin(15)  # 11-14 compacted away
    t.finish(15)
    assert t.committable() == 10
    t.finish(10)
    assert t.committable() == 16


class Held:
    """A handler that finishes every record at once except the offsets it holds."""

    def __init__(self, hold: set[int]) -> None:
        self.hold = hold
        self.held: dict[int, Done] = {}
        self.seen: list[int] = []

    async def __call__(self, record: Any, done: Done) -> None:
        self.seen.append(record.offset)
        if record.offset in self.hold:
            self.held[record.offset] = done
        else:
            done()


def sink_of(consumer: FakeConsumer, handler: Held) -> SinkConsumer:
    def factory(listener: Any) -> FakeConsumer:
        consumer.listener = listener
        consumer.feed = sink
        return consumer

    sink = SinkConsumer("test sink", handler, factory)
    return sink


async def test_a_held_record_keeps_the_commit_below_it_until_it_finishes() -> None:
    handler = Held({10})
    recs = [Rec("alerts", 0, o, b"{}") for o in (10, 11, 12)]

    class Releasing(FakeConsumer):
        async def getmany(self, timeout_ms: int, max_records: int) -> Any:
            if not self.batches and 10 in handler.held:
                handler.held.pop(10)()  # the digest went out: the alert is done
                return {}
            return await super().getmany(timeout_ms, max_records)

    consumer = Releasing([{TP0: recs}], assigned={TP0})
    await sink_of(consumer, handler).run()
    assert handler.seen == [10, 11, 12]
    assert consumer.commits == [{TP0: 10}, {TP0: 13}]  # never 12 or 13 while 10 was held


async def test_a_revoked_partition_commits_below_its_held_record_and_forgets_it() -> None:
    handler = Held({10})
    recs = [Rec("alerts", 0, o, b"{}") for o in (10, 11)]

    class Revoking(FakeConsumer):
        async def getmany(self, timeout_ms: int, max_records: int) -> Any:
            if not self.batches and TP0 in self.assigned:
                self.assigned.discard(TP0)
                await self.listener.on_partitions_revoked({TP0})
                handler.held.pop(10)()  # finishes after its partition went elsewhere
                return {}
            return await super().getmany(timeout_ms, max_records)

    consumer = Revoking([{TP0: recs}], assigned={TP0})
    await sink_of(consumer, handler).run()
    # The first fetch committed 10; the revocation had nothing newer; after it the late
    # finish of 10 commits nothing: the partition's new owner starts from 10.
    assert consumer.commits == [{TP0: 10}]


async def test_progress_on_a_partition_no_longer_assigned_is_dropped_not_committed() -> None:
    handler = Held(set())
    other = TopicPartition("alerts", 1)
    recs = {TP0: [Rec("alerts", 0, 5, b"{}")], other: [Rec("alerts", 1, 9, b"{}")]}

    class Shrinking(FakeConsumer):
        async def commit(self, offsets: dict[TopicPartition, int]) -> None:
            assert set(offsets) <= self.assigned, f"committed {offsets} outside {self.assigned}"
            await super().commit(offsets)

    consumer = Shrinking([recs], assigned={TP0, other})
    sink = sink_of(consumer, handler)
    original = sink._handle  # noqa: SLF001 - one record through the sink's handler, without a broker

    async def handle(record: Any, done: Done) -> None:
        await original(record, done)
        if record.partition == 1:
            # A rebalance under way: partition 1 went elsewhere once its record was
            # handled, before the batch's commit (no revocation callback reached us).
            consumer.assigned = {TP0}

    sink._handle = handle  # noqa: SLF001 - one record through the sink's handler, without a broker
    await sink.run()
    assert handler.seen == [5, 9]
    assert consumer.commits == [{TP0: 6}]


async def test_a_together_handler_gets_each_fetch_in_one_call_and_commits_what_it_finished() -> (
    None
):
    other = TopicPartition("alerts", 1)
    gone = TopicPartition("alerts", 2)
    first = {
        TP0: [Rec("alerts", 0, o, b"{}") for o in (10, 11)],
        other: [Rec("alerts", 1, 4, b"{}")],
        gone: [Rec("alerts", 2, 7, b"{}")],  # revoked between the fetch and the handing over
    }
    calls: list[list[tuple[int, int]]] = []

    async def handle(records: list[tuple[Any, Done]]) -> None:
        calls.append([(r.partition, r.offset) for r, _ in records])
        for r, done in records:
            if (r.partition, r.offset) != (0, 11):  # 11 is still in flight
                done()

    consumer = FakeConsumer([first, {TP0: [Rec("alerts", 0, 12, b"{}")]}], assigned={TP0, other})

    def factory(listener: Any) -> FakeConsumer:
        consumer.listener, consumer.feed = listener, sink
        return consumer

    sink = SinkConsumer("test sink", Together(handle), factory)
    await sink.run()
    assert calls == [[(0, 10), (0, 11), (1, 4)], [(0, 12)]]
    # Partition 0 never past its unfinished 11; partition 1 past its 4.
    assert consumer.commits == [{TP0: 11, other: 5}]


def test_a_together_handler_cannot_be_held_back_by_has_room() -> None:
    async def handle(records: list[tuple[Any, Done]]) -> None:
        return None

    with pytest.raises(ValueError, match="has no has_room"):
        SinkConsumer("test sink", Together(handle), lambda _: None, has_room=lambda: True)
