"""Whether an input message already sits where re-keying it would put it.

The ingest agent re-keys every input by customer id onto `customer-events`, so that the
detector's state never depends on how the producers partitioned their messages. When a
message is keyed by its customer id and already sits on the partition that the re-key
would choose, the hop would move it nowhere: the ingest agent then runs the detect step
itself (`Pipeline._ingest`, through `_decide`), one produced and one consumed message fewer.

That is only the same as the hop when (checked in faust-streaming 0.15.3's source,
docs/performance.md):

- the partition computed here is the one `customer_events.send` would choose: the
  producer's partitioner is the default (aiokafka's `DefaultPartitioner`, murmur2 of the
  key, as Kafka's Java client), over `customer-events`' partition count;
- the input topic has as many partitions as `customer-events`. Faust's assignor groups
  the topics a worker reads by partition count (the tables' changelogs included) and
  gives one worker the same partition numbers of every topic in a group; a table read or
  write goes to the partition of the current event (`event.message.partition`). So state
  written from partition p of an input lands in the store and changelog partition p,
  the same as from partition p of `customer-events`.

Anything else (another key, another partitioner, another partition count, counts not
known yet) takes the hop, which is always correct. The worker reads the counts from its
consumer's cluster metadata (`app.partition_count`), the metadata every member has, not
only the group's leader.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka.partitioner import DefaultPartitioner

PartitionCount = Callable[[str], int | None]
"""Partitions of a topic by name, as the worker's consumer knows them; None if unknown."""

_MURMUR2 = DefaultPartitioner()  # what Faust's producer uses unless told otherwise


@dataclass(frozen=True, slots=True)
class Placement:
    customer_events: str
    """The concrete name of the `customer-events` topic."""
    partition_count: PartitionCount

    def in_place(self, topic: str, partition: int, key: bytes) -> bool:
        """True when `key` on `topic`'s `partition` is where re-keying it would put it."""
        n = self.partition_count(self.customer_events)
        if not n or self.partition_count(topic) != n:
            return False
        return partition_for(key, n) == partition


@functools.lru_cache(maxsize=1 << 16)
def partition_for(key: bytes, count: int) -> int:
    """The partition of `count` that Faust's default partitioner gives `key`. Cached: the
    same customers, IPs and devices come back all the time, and murmur2 in Python was
    three calls per login (the placement, the IP's and the device's observation)."""
    partitions = list(range(count))
    return int(_MURMUR2(key, partitions, partitions))
