"""What one batch writes: table values and output records, sent together at its end.

A batch agent reads each key's value once, applies the batch's events for that key, and
writes the value once: `TableWrites` keeps one value per key, sends one changelog record
each and, once the broker has acknowledged the batch, writes them all to the local store
in one RocksDB write batch per partition, the partition's persisted offset in the same
write batch (never before: see `TableWrites.persisted`);
`Outbox` keeps the batch's output records in order. `flush()` hands the outputs to the
producer without waiting for each record, waits until the broker has acknowledged them
(acks=all), then does the same with the changelog records, before the agent lets Faust
acknowledge the batch's events: the offsets never move past an event whose state or
outputs could still be lost (at-least-once, as per event before), and the changelog never
holds state whose outputs could still be lost.

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

from withdrawguard.contract.records import Produce, ProduceMany, Record
from withdrawguard.streaming.faust_internals.current_event import in_event
from withdrawguard.streaming.faust_internals.introspect import offset_entry, partition_db


class Unstored:
    """One table's values sent to the changelog and not yet in the store, shared by every
    batch that writes the table, and the order their batches must reach the store in.

    Two agents write the customers table (ingest, for inputs decided in place, and
    detect), so two batches of it can await the broker at once, the later one built on
    the earlier one's values; their acknowledgements may come in either order. Each
    batch therefore reaches the store only after the batch published before it has (or
    has failed): the store never goes back to an older value (the fault suite's
    "processing raises" and "stalled partition" runs lost a DESTINATION_SHARED notice
    that way before this order was kept)."""

    def __init__(self) -> None:
        self.values: dict[tuple[int, bytes], bytes] = {}
        """(partition, key) -> the newest value sent and not yet stored."""
        self.last: asyncio.Future[None] | None = None
        """Done once the batch published last has reached the store (or failed)."""
        self.handed: asyncio.Future[None] | None = None
        """Done once the batch published last has handed its changelog records to the
        producer (or failed): the changelog gets a key's values in the order they were
        decided, whichever batch's outputs the broker acknowledges first."""


@dataclass
class TableWrites:
    """One table's writes in one batch, at most one per key: kept until `flush`, which
    sends their changelog records; once the broker has acknowledged the batch,
    `persisted` writes them to the store (one RocksDB write batch per partition). `get`
    sees the batch's own writes, and those of another batch of the same table still
    awaiting its acknowledgement (`unstored`, shared by every batch of the table: two
    agents write the customers table, ingest for inputs decided in place and detect)."""

    table: TableT[bytes, bytes]
    unstored: Unstored = field(default_factory=Unstored)
    pending: dict[tuple[int, bytes], tuple[Any, bytes]] = field(default_factory=dict)
    """(partition, key) -> (the event whose partition it is, value)."""
    _after: asyncio.Future[None] | None = field(default=None, init=False)
    _stored: asyncio.Future[None] | None = field(default=None, init=False)
    _handed_after: asyncio.Future[None] | None = field(default=None, init=False)
    _handed: asyncio.Future[None] | None = field(default=None, init=False)
    _sent: list[int] = field(default_factory=list, init=False)
    """The partition of each awaitable `flush` returned, in order."""
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
        sent = self.unstored.values.get((partition, key))
        if sent is not None:
            return sent
        if self.open_db is not None:
            found: bytes | None = self.open_db(partition).get(key)
            return found
        with in_event(event):  # another store (memory): it finds the partition itself
            value: bytes | None = self.table.data.get(key)
        return value

    def put(self, event: Any, key: bytes, value: bytes) -> None:
        """Write the key's value in the store of `event`'s partition, at `flush`."""
        self.pending[(event.message.partition, key)] = (event, value)

    def publish(self) -> None:
        """Let the table's other batches read this batch's values (before anything
        awaits: nothing can read the older ones after the batch decided), and take its
        place in the order the table's batches reach the store."""
        self.unstored.values.update((pk, value) for pk, (_, value) in self.pending.items())
        loop = asyncio.get_running_loop()
        self._after = self.unstored.last
        self._stored = self.unstored.last = loop.create_future()
        self._handed_after = self.unstored.handed
        self._handed = self.unstored.handed = loop.create_future()

    async def flush(
        self, produce: Produce, many: ProduceMany | None = None
    ) -> list[Awaitable[Any] | None]:
        """Hand the batch's changelog records to the producer (before Faust could commit
        past the batch: it has not acked it): with `many`, each partition's together,
        else one by one. The store is written by `persisted`, once the broker has
        acknowledged them and the batch's outputs.

        Only after the table's batch published before this one has handed its own over
        (`Unstored.handed`): that batch decided first, so this one may hold a value built
        on its value for the same key; were this one's record first on the changelog, the
        older value would be the key's last (the fault suite's "case SIGKILL" run restored
        a customer without the device a login had added, its batch acknowledged before
        the batch of a notice decided before it)."""
        if self._handed_after is not None:
            await asyncio.shield(self._handed_after)
        try:
            return await self._hand_over(produce, many)
        finally:
            _done(self._handed)

    async def _hand_over(
        self, produce: Produce, many: ProduceMany | None
    ) -> list[Awaitable[Any] | None]:
        topic = self.table.changelog_topic.get_topic_name()
        if many is None:
            self._sent = [p for p, _ in self.pending]
            pending = self.pending.items()
            return [await produce((topic, k, v, p, None)) for (p, k), (_, v) in pending]
        by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
        for (p, k), (_, v) in self.pending.items():
            by_partition.setdefault(p, []).append((k, v))
        self._sent = list(by_partition)
        return [await many(topic, p, records) for p, records in by_partition.items()]

    def discard(self) -> None:
        """Forget the batch's writes (it failed): the store never sees them."""
        self._forget_unstored()
        self.pending.clear()

    def _forget_unstored(self) -> None:
        values = self.unstored.values
        for pk, (_, value) in self.pending.items():
            if values.get(pk) is value:  # not overwritten by a later batch meanwhile
                del values[pk]
        _done(self._stored)  # the next batch of the table may go on
        _done(self._handed)

    def _write_store(self, last: dict[int, int]) -> None:
        """The batch's values in the store, with each partition's persisted offset (`last`)
        in the same RocksDB write batch: one write per partition, atomic."""
        open_db = self.open_db
        store: Any = self.table.data  # a faust Store: TableT types it as a plain mapping
        batches: dict[int, Any] = {}
        for (partition, key), (event, value) in self.pending.items():
            if open_db is None:
                with in_event(event):
                    store[key] = value
                continue
            wb = batches.get(partition)
            if wb is None:
                wb = batches[partition] = rocksdict.WriteBatch(raw_mode=True)
            wb.put(key, value)
        if open_db is None:
            topic = self.table.changelog_topic.get_topic_name()
            for partition, offset in last.items():
                store.set_persisted_offset(TP(topic, partition), offset)
            return
        for partition, wb in batches.items():
            if partition in last:
                wb.put(*offset_entry(store, last[partition]))
            open_db(partition).write(wb)

    async def persisted(self, results: list[Any]) -> None:
        """Write the batch's values to the store and move each partition's persisted
        offset to its last acknowledged record, as Faust's own changelog callback does,
        so a restart replays the changelog from there.

        Only now: a store written before the broker took the batch's records would, if
        they never arrived (a crash, or a producer that never answers: the wedge of
        docs/reliability.md), hold state whose outputs were never sent; the replay would
        then find its events already applied and send nothing again (the cross-customer
        observations of the wedged-worker fault test were lost that way). And only after
        the table's batch published before this one (`Unstored`)."""
        if self._after is not None:
            await asyncio.shield(self._after)
        last: dict[int, int] = {}
        for partition, acked in zip(self._sent, results, strict=True):
            # A record's metadata (one by one), or the last offset of a partition's records
            offset = acked if isinstance(acked, int) else getattr(acked, "offset", None)
            if offset is not None and offset > last.get(partition, -1):
                last[partition] = offset
        self._write_store(last)
        self._forget_unstored()
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


async def flush(
    produce: Produce,
    outbox: Outbox,
    tables: list[TableWrites],
    many: ProduceMany | None = None,
    send_now: Callable[[], None] | None = None,
) -> None:
    """Send the outputs of a batch, then, once they are acknowledged, its changelog
    records (with `many`, each table partition's together); return once all are. With
    `send_now`, each of the two goes to the broker as soon as it is handed over, without
    the producer's linger (everything the linger could gather is in by then).

    Never the changelog before the outputs are in: a table restored from a changelog that
    holds a batch whose outputs never arrived (a crash between the two, a partition leader
    lost in a cluster, the wedge of docs/reliability.md) finds the batch's events already
    applied on the replay and sends nothing again. The wedged-worker fault test lost a
    mule pair's DESTINATION_SHARED that way once changelog records had a send path of
    their own. The other way round is safe: outputs in and the changelog not, the replay
    decides the events again and repeats the same records."""
    for t in tables:
        t.publish()
    try:
        outputs = await outbox.flush(produce)
        if send_now is not None:
            send_now()
        await _acknowledged(outputs)
        per_table = [await t.flush(produce, many) for t in tables]
        if send_now is not None and per_table:
            send_now()
        for t, results in zip(tables, per_table, strict=True):
            await t.persisted(await _acknowledged(results))
    except BaseException:
        for t in tables:
            t.discard()  # never stored: a replay decides these events again
        raise


def _done(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


async def _acknowledged(sent: list[Awaitable[Any] | None]) -> list[Any]:
    waiting = [s for s in sent if s is not None]
    done = iter(await asyncio.gather(*waiting))
    return [next(done) if s is not None else None for s in sent]
