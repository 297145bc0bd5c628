"""History from the Kafka input topics, read without disturbing the live detector.

The consumer has no group (`group_id=None`): it assigns itself every partition of the
input topics, never joins the worker's consumer group and never commits. It reads from
the earliest offset, or from the first message at or after `since` (Kafka record
timestamps, found with `offsets_for_times`), up to the end offsets captured when the scan
starts, or to the first message at or after `until`. It writes nothing anywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from withdrawguard.adapters.kafka_security import kafka_python_options
from withdrawguard.contract.topics import INPUT_EVENT_TYPES, TopicNames
from withdrawguard.scan.sources import Record, SourceError
from withdrawguard.settings import Settings

ConsumerFactory = Callable[..., Any]


class KafkaSource:
    """Every message of the input topics in the chosen range, partition by partition."""

    def __init__(
        self,
        settings: Settings,
        since_ms: int | None = None,
        until_ms: int | None = None,
        consumer_factory: ConsumerFactory = KafkaConsumer,
    ) -> None:
        names = TopicNames(settings)
        self.types = {names.name(logical): t for logical, t in INPUT_EVENT_TYPES.items()}
        self.names = sorted(self.types)
        self.settings = settings
        self.since_ms = since_ms
        self.until_ms = until_ms
        self.factory = consumer_factory
        self.total: int | None = None
        self._consumer: Any = None
        self._start: dict[TopicPartition, int] = {}
        self._stop: dict[TopicPartition, int] = {}
        self._read = 0

    def position(self) -> int:
        """Messages read so far (of `total`)."""
        return self._read

    def open(self) -> None:
        """Connect, and fix the range of offsets to read."""
        try:
            consumer = self.factory(
                bootstrap_servers=self.settings.bootstrap_servers,
                group_id=None,
                enable_auto_commit=False,
                client_id="withdrawguard-scan",
                max_partition_fetch_bytes=max(1 << 20, self.settings.max_message_bytes * 2),
                **kafka_python_options(self.settings),
            )
        except KafkaError as exc:
            raise SourceError(
                f"cannot reach Kafka at {self.settings.kafka_bootstrap}: {exc}"
            ) from exc
        self._consumer = consumer
        try:
            parts = self._partitions(consumer)
            ends = consumer.end_offsets(parts)
            if self.since_ms is None:
                self._start = dict(consumer.beginning_offsets(parts))
            else:
                self._start = self._first_at(consumer, self.since_ms, ends)
            self._stop = dict(ends)
            if self.until_ms is not None:
                self._stop = self._first_at(consumer, self.until_ms, ends)
        except KafkaError as exc:
            self.close()
            raise SourceError(f"cannot read the input topics: {exc}") from exc
        self.total = sum(max(0, self._stop[tp] - self._start[tp]) for tp in parts)

    def _partitions(self, consumer: Any) -> list[TopicPartition]:
        parts: list[TopicPartition] = []
        for topic in self.names:
            ids = consumer.partitions_for_topic(topic)
            if not ids:
                self.close()
                raise SourceError(f"input topic {topic!r} does not exist")
            parts += [TopicPartition(topic, p) for p in sorted(ids)]
        return parts

    @staticmethod
    def _first_at(
        consumer: Any, at_ms: int, ends: dict[TopicPartition, int]
    ) -> dict[TopicPartition, int]:
        """Per partition, the first offset whose timestamp is at or after `at_ms` (not
        beyond the end captured at the start; the end if there is none)."""
        found = consumer.offsets_for_times(dict.fromkeys(ends, at_ms))
        return {
            tp: end if found.get(tp) is None else min(found[tp].offset, end)
            for tp, end in ends.items()
        }

    def __iter__(self) -> Iterator[Record]:
        if self._consumer is None:
            self.open()
        consumer = self._consumer
        todo = [tp for tp in self._stop if self._start[tp] < self._stop[tp]]
        consumer.assign(todo)
        for tp in todo:
            consumer.seek(tp, self._start[tp])
        pending = set(todo)
        try:
            while pending:
                batch = consumer.poll(timeout_ms=500, max_records=5000)
                for tp, messages in batch.items():
                    stop = self._stop[tp]
                    source = f"{tp.topic}[{tp.partition}]"
                    for m in messages:
                        if m.offset >= stop:
                            break
                        self._read += 1
                        yield Record(source, m.offset, self.types[tp.topic], m.value or b"")
                for tp in list(pending):
                    if consumer.position(tp) >= self._stop[tp]:
                        pending.discard(tp)
                        consumer.pause(tp)
        finally:
            self.close()

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
            self._consumer = None
