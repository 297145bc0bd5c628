"""What one batch writes: table values and output records, sent together at its end.

A batch agent reads each key's value once, applies the batch's events for that key, and
writes the value once: `TableWrites` keeps one value per key and writes them all to the
local store in one RocksDB write batch per partition, with one changelog record each;
`Outbox` keeps the batch's output records in order. `flush()` hands everything to the
producer without waiting for each record, then waits until the broker has acknowledged
all of them (acks=all) before the agent lets Faust acknowledge the batch's events: the
offsets never move past an event whose state or outputs could still be lost (at-least-
once, as per event before).

Changelog records are produced directly, not through Faust's per-key table path, which
costs more than Faust's whole stream path per event (docs/performance.md). They are the
records Faust would write (raw key and value, the event's partition), and once they are
acknowledged the store's persisted offset moves to the last of them, as Faust's own
callback does, so a restart replays the changelog from there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import rocksdict
from faust.types import TP, TableT

from withdrawguard.contract.records import Produce, Record
from withdrawguard.streaming.faust_internals.current_event import in_event
from withdrawguard.streaming.faust_internals.introspect import partition_db


@dataclass
class TableWrites:
    """One table's writes in one batch, at most one per key: kept until `flush`, which
    writes them to the store (one RocksDB write batch per partition) and sends their
    changelog records. `get` sees the batch's own writes."""

    table: TableT[bytes, bytes]
    pending: dict[tuple[int, bytes], tuple[Any, bytes]] = field(default_factory=dict)
    """(partition, key) -> (the event whose partition it is, value)."""
    open_db: Callable[[int], Any] | None = field(init=False)
    """The store's RocksDB database of a partition; None for another store (memory)."""

    def __post_init__(self) -> None:
        store: Any = self.table.data
        self.open_db = partition_db(store)  # faust's RocksDB store

    def get(self, event: Any, key: bytes) -> bytes | None:
        """The key's value in the store of `event`'s partition (this batch's write if any)."""
        partition = event.message.partition
        mine = self.pending.get((partition, key))
        if mine is not None:
            return mine[1]
        if self.open_db is not None:
            found: bytes | None = self.open_db(partition).get(key)
            return found
        with in_event(event):  # another store (memory): it finds the partition itself
            value: bytes | None = self.table.data.get(key)
        return value

    def put(self, event: Any, key: bytes, value: bytes) -> None:
        """Write the key's value in the store of `event`'s partition, at `flush`."""
        self.pending[(event.message.partition, key)] = (event, value)

    async def flush(self, produce: Produce) -> list[Awaitable[Any] | None]:
        """Write the batch's values to the store, then hand their changelog records to
        the producer (before Faust could commit past the batch: it has not acked it)."""
        open_db = self.open_db
        batches: dict[int, Any] = {}
        for (partition, key), (event, value) in self.pending.items():
            if open_db is None:
                with in_event(event):
                    self.table.data[key] = value
                continue
            wb = batches.get(partition)
            if wb is None:
                wb = batches[partition] = rocksdict.WriteBatch(raw_mode=True)
            wb.put(key, value)
        if open_db is not None:
            for partition, wb in batches.items():
                open_db(partition).write(wb)
        topic = self.table.changelog_topic.get_topic_name()
        return [await produce((topic, k, v, p, None)) for (p, k), (_, v) in self.pending.items()]

    def persisted(self, results: list[Any]) -> None:
        """Move each partition's persisted offset to its last acknowledged record, as
        Faust's own changelog callback does, so a restart replays the changelog from there."""
        last: dict[int, int] = {}
        for (partition, _), meta in zip(self.pending, results, strict=True):
            offset = getattr(meta, "offset", None)
            if offset is not None and offset > last.get(partition, -1):
                last[partition] = offset
        topic = self.table.changelog_topic.get_topic_name()
        store: Any = self.table.data  # a faust Store: TableT types it as a plain mapping
        for partition, offset in last.items():
            store.set_persisted_offset(TP(topic, partition), offset)
        self.pending.clear()


@dataclass
class Outbox:
    """A batch's output records, sent in the order of what caused them: each is added
    with the position in the batch of the event (or observation) it came from, so the
    records leave in the order handling each event alone would send them, whatever
    order the batch was worked through in (by key)."""

    records: list[tuple[int, Record]] = field(default_factory=list)

    def add(
        self,
        at: int,
        topic: str,
        key: bytes | None,
        value: bytes,
        partition: int | None = None,
        timestamp: float | None = None,
    ) -> None:
        self.records.append((at, (topic, key, value, partition, timestamp)))

    async def flush(self, produce: Produce) -> list[Awaitable[Any] | None]:
        self.records.sort(key=lambda r: r[0])  # stable: one event's records keep their order
        sent = [await produce(record) for _, record in self.records]
        self.records.clear()
        return sent


async def flush(produce: Produce, outbox: Outbox, tables: list[TableWrites]) -> None:
    """Send the outputs and changelog records of a batch; return once all are acknowledged."""
    sent = await outbox.flush(produce)
    per_table = [await t.flush(produce) for t in tables]
    await _acknowledged(sent)
    for t, results in zip(tables, per_table, strict=True):
        t.persisted(await _acknowledged(results))


async def _acknowledged(sent: list[Awaitable[Any] | None]) -> list[Any]:
    waiting = [s for s in sent if s is not None]
    done = iter(await asyncio.gather(*waiting))
    return [next(done) if s is not None else None for s in sent]
