"""Reading and nudging Faust's and aiokafka's private state, for the modules outside this
package that need it: each function names what it reads, and says why the public API
does not answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer


def partition_count(app: Any, topic: str) -> int | None:
    """Partitions of `topic` in the cluster metadata of the worker's aiokafka consumer
    (which reads every topic a worker subscribes to); None before it has started or on
    another transport.

    Not Faust's `Consumer.topic_partitions`: that reads the group coordinator's metadata
    snapshot, which aiokafka 0.14 fills only on the group's leader (the member that
    computes the assignment), so on every other worker it knows no topic at all.
    """
    consumer = getattr(getattr(app.consumer, "_thread", None), "_consumer", None)
    client = getattr(consumer, "_client", None)
    if client is None:
        return None
    partitions = client.cluster.partitions_for_topic(topic)
    return len(partitions) if partitions else None


async def fresh_metadata(consumer: AIOKafkaConsumer) -> Any:
    """The whole cluster's metadata, fetched now by `consumer`'s client (aiokafka's
    `consumer.topics()` fetches it but keeps only the names)."""
    return await consumer._client.fetch_all_metadata()


def partition_db(store: Any) -> Callable[[int], Any] | None:
    """The function that opens a partition's RocksDB database in a Faust RocksDB store
    (`Store._db_for_partition`); None for another store (memory)."""
    return getattr(store, "_db_for_partition", None)


def offset_entry(store: Any, offset: int) -> tuple[bytes, bytes]:
    """The key and value under which Faust's RocksDB store keeps a partition's persisted
    offset (`Store.set_persisted_offset` puts them on their own), so that a batch can write
    it in the same RocksDB write batch as the values it covers: one write instead of two,
    and the offset never on disk without them."""
    key: bytes = store.offset_key
    return key, str(offset).encode()


def restore_progress(app: Any) -> RestoreProgress | None:
    """The table restore under way, if any, as Faust's `Recovery` keeps it."""
    recovery = getattr(getattr(app, "tables", None), "recovery", None)
    started = getattr(recovery, "_recovery_started_at", None)
    if recovery is None or not getattr(recovery, "in_recovery", False) or started is None:
        return None
    return RestoreProgress(
        started=started,
        received=recovery._active_events_received_at,
        offsets=recovery.active_offsets,
        highwaters=recovery.active_highwaters,
    )


class RestoreProgress:
    """When a restore began (monotonic seconds), when each changelog partition last
    delivered, and how far each has been read of how far it must go."""

    def __init__(
        self,
        started: float,
        received: Mapping[Any, float],
        offsets: Mapping[Any, int],
        highwaters: Mapping[Any, int],
    ) -> None:
        self.started = started
        self.received = received
        self.offsets = offsets
        self.highwaters = highwaters


async def restart_fetcher(app: Any) -> None:
    """Start Faust's fetch loop again if it has stopped (`App._fetcher`)."""
    await app._fetcher.maybe_start()
