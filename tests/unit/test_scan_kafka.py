"""The scan's Kafka input, against a small fake consumer: no group, every partition of
the input topics, from the earliest offset or `since`, up to the end or `until`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from kafka import TopicPartition

from withdrawguard.scan.kafka_input import KafkaSource
from withdrawguard.scan.sources import SourceError
from withdrawguard.settings import Settings

SETTINGS = Settings(topic_prefix="t.")


@dataclass
class Message:
    offset: int
    timestamp: int
    value: bytes


@dataclass
class OffsetAndTimestamp:
    offset: int
    timestamp: int


@dataclass
class FakeConsumer:
    """Each partition holds messages at offsets 10.. with timestamps 1000, 2000, ..."""

    logs: dict[TopicPartition, list[Message]]
    config: dict[str, Any] = field(default_factory=dict)
    assigned: list[TopicPartition] = field(default_factory=list)
    positions: dict[TopicPartition, int] = field(default_factory=dict)
    closed: bool = False

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {tp.partition for tp in self.logs if tp.topic == topic}

    def beginning_offsets(self, parts: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self.logs[tp][0].offset if self.logs[tp] else 0 for tp in parts}

    def end_offsets(self, parts: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self.logs[tp][-1].offset + 1 if self.logs[tp] else 0 for tp in parts}

    def offsets_for_times(self, wanted: dict[TopicPartition, int]) -> dict[TopicPartition, Any]:
        found: dict[TopicPartition, Any] = {}
        for tp, at in wanted.items():
            hit = next((m for m in self.logs[tp] if m.timestamp >= at), None)
            found[tp] = None if hit is None else OffsetAndTimestamp(hit.offset, hit.timestamp)
        return found

    def assign(self, parts: list[TopicPartition]) -> None:
        self.assigned = list(parts)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp] = offset

    def poll(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Message]]:
        batch = {}
        for tp in self.assigned:
            todo = [m for m in self.logs[tp] if m.offset >= self.positions[tp]][:2]
            if todo:
                batch[tp] = todo
                self.positions[tp] = todo[-1].offset + 1
        return batch

    def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]

    def pause(self, tp: TopicPartition) -> None:
        self.assigned.remove(tp)

    def close(self, autocommit: bool = True) -> None:
        assert autocommit is False
        self.closed = True


def consumer_with(messages_per_partition: int) -> FakeConsumer:
    logs: dict[TopicPartition, list[Message]] = {}
    for topic in (
        "t.logins",
        "t.account-changes",
        "t.withdrawals",
        "t.case-decisions",
        "t.trades",
        "t.customer-responses",
    ):
        for p in range(2):
            logs[TopicPartition(topic, p)] = [
                Message(10 + i, 1000 * (i + 1), f"{topic}/{p}/{i}".encode())
                for i in range(messages_per_partition)
            ]
    return FakeConsumer(logs)


def source_of(fake: FakeConsumer, **kwargs: Any) -> KafkaSource:
    def factory(**config: Any) -> FakeConsumer:
        fake.config = config
        return fake

    return KafkaSource(SETTINGS, consumer_factory=factory, **kwargs)


def test_every_partition_of_every_input_topic_is_read_without_a_consumer_group() -> None:
    fake = consumer_with(5)
    source = source_of(fake)
    source.open()
    records = list(source)
    assert fake.config["group_id"] is None
    assert fake.config["enable_auto_commit"] is False
    assert source.total == len(records) == 6 * 2 * 5  # six input topics of two partitions
    assert source.position() == source.total
    assert {r.event_type for r in records} == {
        "login",
        "account_change",
        "withdrawal",
        "case_decision",
        "trade",
        "customer_response",
    }
    first = next(r for r in records if r.source == "t.withdrawals[1]")
    assert (first.line, first.raw) == (10, b"t.withdrawals/1/0")
    assert fake.closed


def test_since_and_until_pick_offsets_by_record_time() -> None:
    fake = consumer_with(6)
    source = source_of(fake, since_ms=2000, until_ms=4500)
    records = list(source)
    # Timestamps 2000, 3000 and 4000 of each partition: offsets 11, 12 and 13.
    assert {r.line for r in records} == {11, 12, 13}
    assert len(records) == 12 * 3  # twelve partitions


def test_a_range_past_the_end_reads_nothing() -> None:
    source = source_of(consumer_with(3), since_ms=10_000)
    assert list(source) == []
    assert source.total == 0


def test_a_missing_input_topic_is_a_clear_error() -> None:
    fake = consumer_with(1)
    del fake.logs[TopicPartition("t.withdrawals", 0)]
    del fake.logs[TopicPartition("t.withdrawals", 1)]
    with pytest.raises(SourceError, match=r"input topic 't\.withdrawals' does not exist"):
        source_of(fake).open()
    assert fake.closed
