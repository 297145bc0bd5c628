"""A batch's table values reach the store only after the broker acknowledged the batch,
in the order the table's batches were decided: the next batch reads them meanwhile, a
later batch acknowledged first waits for the earlier one, and a failed batch's values
are forgotten."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from faust.stores import rocksdb
from faust.types import TP
from rocksdict import Options, Rdict

from withdrawguard.contract.records import Record
from withdrawguard.streaming.detect.writes import Outbox, TableWrites, Unstored, flush


class Event:
    def __init__(self, partition: int = 0) -> None:
        self.message = SimpleNamespace(partition=partition)


class Store(dict[bytes, bytes]):
    def __init__(self) -> None:
        super().__init__()
        self.persisted: dict[Any, int] = {}

    def set_persisted_offset(self, tp: Any, offset: int) -> None:
        self.persisted[tp] = offset


class Table:
    def __init__(self) -> None:
        self.data = Store()
        self.changelog_topic = SimpleNamespace(get_topic_name=lambda: "customers-changelog")


class Broker:
    """Acknowledges a record only when the test says so (by its value)."""

    def __init__(self) -> None:
        self.acks: dict[bytes, asyncio.Future[Any]] = {}

    async def produce(self, record: Record) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks[record[2]] = fut
        return fut

    def ack(self, value: bytes, offset: int) -> None:
        self.acks[value].set_result(SimpleNamespace(offset=offset))


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_the_store_waits_for_the_acknowledgement_and_the_next_batch_reads_meanwhile() -> None:
    table, shared, broker, ev = Table(), Unstored(), Broker(), Event()
    first = TableWrites(table, shared)  # type: ignore[arg-type]
    first.put(ev, b"k", b"S1")
    sending = asyncio.create_task(flush(broker.produce, Outbox(), [first]))
    await _settle()
    assert table.data == {}  # sent, not acknowledged: not in the store
    later = TableWrites(table, shared)  # type: ignore[arg-type]
    assert later.get(ev, b"k") == b"S1"  # another batch of the table reads it
    broker.ack(b"S1", 7)
    await sending
    assert table.data == {b"k": b"S1"}
    assert list(table.data.persisted.values()) == [7]
    assert shared.values == {}


async def test_a_later_batch_acknowledged_first_never_leaves_the_older_value_stored() -> None:
    table, shared, broker, ev = Table(), Unstored(), Broker(), Event()
    a = TableWrites(table, shared)  # type: ignore[arg-type]
    a.put(ev, b"k", b"S1")
    ta = asyncio.create_task(flush(broker.produce, Outbox(), [a]))
    await _settle()
    b = TableWrites(table, shared)  # type: ignore[arg-type]
    b.put(ev, b"k", (b.get(ev, b"k") or b"") + b"+S2")
    tb = asyncio.create_task(flush(broker.produce, Outbox(), [b]))
    await _settle()
    broker.ack(b"S1+S2", 8)
    await _settle()
    assert not tb.done() and table.data == {}  # waits for the batch decided before it
    broker.ack(b"S1", 7)
    await asyncio.gather(ta, tb)
    assert table.data == {b"k": b"S1+S2"}
    assert shared.values == {}


async def test_a_failed_batch_is_forgotten_and_the_next_one_goes_on() -> None:
    table, shared, broker, ev = Table(), Unstored(), Broker(), Event()
    a = TableWrites(table, shared)  # type: ignore[arg-type]
    a.put(ev, b"k", b"S1")
    a.put(ev, b"j", b"J1")
    ta = asyncio.create_task(flush(broker.produce, Outbox(), [a]))
    await _settle()
    b = TableWrites(table, shared)  # type: ignore[arg-type]
    b.put(ev, b"k", b"S2")
    tb = asyncio.create_task(flush(broker.produce, Outbox(), [b]))
    await _settle()
    broker.acks[b"S1"].set_exception(RuntimeError("the broker refused the batch"))
    with pytest.raises(RuntimeError, match="refused"):
        await ta
    assert shared.values == {(0, b"k"): b"S2"}  # j is forgotten, k is the later batch's
    broker.ack(b"S2", 9)
    await tb
    assert table.data == {b"k": b"S2"}
    assert shared.values == {}


class RocksStore:
    """What TableWrites uses of Faust's RocksDB store, over real RocksDB databases."""

    offset_key = rocksdb.Store.offset_key

    def __init__(self, path: Path) -> None:
        self.path, self.dbs = path, {}

    def db(self, partition: int) -> Rdict:
        if partition not in self.dbs:
            self.dbs[partition] = Rdict(str(self.path / f"p{partition}"), Options(raw_mode=True))
        return self.dbs[partition]

    _db_for_partition = db  # the name Faust's store has (what TableWrites opens)


async def test_a_rocksdb_partition_gets_the_values_and_the_offset_faust_reads_in_one_write(
    tmp_path: Path,
) -> None:
    table, broker = Table(), Broker()
    store = RocksStore(tmp_path)
    table.data = store  # type: ignore[assignment]
    writes = TableWrites(table, Unstored())  # type: ignore[arg-type]
    writes.put(Event(0), b"a", b"A1")
    writes.put(Event(1), b"b", b"B1")
    writes.put(Event(0), b"c", b"C1")
    sending = asyncio.create_task(flush(broker.produce, Outbox(), [writes]))
    await _settle()
    assert store.db(0).get(b"a") is None  # not before the acknowledgement
    for value, offset in ((b"A1", 40), (b"B1", 9), (b"C1", 41)):
        broker.ack(value, offset)
    await sending
    db0, db1 = store.db(0), store.db(1)
    assert (db0[b"a"], db0[b"c"], db1[b"b"]) == (b"A1", b"C1", b"B1")
    read = rocksdb.Store.persisted_offset  # Faust's own reading, on restart
    assert read(store, TP("customers-changelog", 0)) == 41  # type: ignore[arg-type]
    assert read(store, TP("customers-changelog", 1)) == 9  # type: ignore[arg-type]
    for db in (db0, db1):
        db.close()


async def test_each_partitions_changelog_records_go_together_and_its_last_offset_is_persisted() -> (
    None
):
    table, handed = Table(), []

    async def many(topic: str, partition: int, records: Any) -> asyncio.Future[int]:
        handed.append((topic, partition, list(records)))
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        done.set_result(100 * partition + len(records) - 1)  # the last record's offset
        return done

    writes = TableWrites(table, Unstored())  # type: ignore[arg-type]
    writes.put(Event(1), b"a", b"A1")
    writes.put(Event(0), b"b", b"B1")
    writes.put(Event(1), b"c", b"C1")
    await flush(Broker().produce, Outbox(), [writes], many)
    assert handed == [
        ("customers-changelog", 1, [(b"a", b"A1"), (b"c", b"C1")]),
        ("customers-changelog", 0, [(b"b", b"B1")]),
    ]
    assert table.data == {b"a": b"A1", b"b": b"B1", b"c": b"C1"}
    assert {tp.partition: o for tp, o in table.data.persisted.items()} == {1: 101, 0: 0}


async def test_no_changelog_record_leaves_before_the_batchs_outputs_are_acknowledged() -> None:
    """A changelog ahead of its outputs would, restored after a crash, hold state whose
    outputs never came: the replay would find its events applied and send nothing."""
    table, broker, handed = Table(), Broker(), []

    async def many(topic: str, partition: int, records: Any) -> asyncio.Future[int]:
        handed.append(list(records))
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        done.set_result(0)
        return done

    writes = TableWrites(table, Unstored())  # type: ignore[arg-type]
    writes.put(Event(), b"k", b"S1")
    outbox = Outbox()
    outbox.add(0, "withdrawal-decisions", b"c1", b"V1")
    sending = asyncio.create_task(flush(broker.produce, outbox, [writes], many))
    await _settle()
    assert handed == []  # the verdict is not in yet: nothing of the changelog has left
    assert table.data == {}
    broker.ack(b"V1", 3)
    await sending
    assert handed == [[(b"k", b"S1")]]
    assert table.data == {b"k": b"S1"}


async def test_each_part_is_sent_at_once_once_all_of_it_is_handed_over() -> None:
    """`send_now` ends the producer's linger only once everything the linger could gather
    is in: after the last output, then after the last changelog record."""
    table, broker, log = Table(), Broker(), []

    async def produce(record: Record) -> asyncio.Future[Any]:
        log.append(record[2])
        return await broker.produce(record)

    async def many(topic: str, partition: int, records: Any) -> asyncio.Future[int]:
        log.extend(value for _, value in records)
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        done.set_result(0)
        return done

    writes = TableWrites(table, Unstored())  # type: ignore[arg-type]
    writes.put(Event(0), b"k", b"S1")
    writes.put(Event(1), b"j", b"S2")
    outbox = Outbox()
    outbox.add(0, "withdrawal-decisions", b"c1", b"V1")
    outbox.add(1, "withdrawal-holds", b"c1", b"H1")
    sending = asyncio.create_task(
        flush(produce, outbox, [writes], many, send_now=lambda: log.append(b"now"))
    )
    await _settle()
    assert log == [b"V1", b"H1", b"now"]  # sent at once, and the batch waits for them
    broker.ack(b"V1", 3)
    broker.ack(b"H1", 4)
    await sending
    assert log == [b"V1", b"H1", b"now", b"S1", b"S2", b"now"]


async def test_a_batch_with_nothing_to_store_asks_once() -> None:
    broker, log = Broker(), []
    outbox = Outbox()
    outbox.add(0, "withdrawal-decisions", b"c1", b"V1")
    sending = asyncio.create_task(
        flush(broker.produce, outbox, [], None, send_now=lambda: log.append("now"))
    )
    await _settle()
    broker.ack(b"V1", 0)
    await sending
    assert log == ["now"]


class Changelog:
    """`ProduceMany` that acknowledges at once and keeps what was handed over, in order."""

    def __init__(self) -> None:
        self.handed: list[bytes] = []

    async def many(self, topic: str, partition: int, records: Any) -> asyncio.Future[int]:
        self.handed.extend(value for _, value in records)
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        done.set_result(len(self.handed) - 1)
        return done


def batch_of(
    broker: Broker, changelog: Changelog, writes: TableWrites, output: bytes
) -> asyncio.Task[None]:
    """The batch's flush, one output record (`output`), started as a task."""
    outbox = Outbox()
    outbox.add(0, "withdrawal-decisions", b"k", output)
    return asyncio.create_task(flush(broker.produce, outbox, [writes], changelog.many))


async def test_the_changelog_gets_a_keys_values_in_the_order_they_were_decided() -> None:
    """Batch A decided first, batch B built on A's value; B's outputs are acknowledged
    first. Were B's changelog record handed over first, A's older value would be the
    key's last on the changelog, and a restore would lose what B added."""
    table, broker, unstored, changelog = Table(), Broker(), Unstored(), Changelog()
    first, second = TableWrites(table, unstored), TableWrites(table, unstored)  # type: ignore[arg-type]
    first.put(Event(), b"k", b"S1")
    sending_a = batch_of(broker, changelog, first, b"A")
    await _settle()
    assert second.get(Event(), b"k") == b"S1"  # B decides on A's value
    second.put(Event(), b"k", b"S2")
    sending_b = batch_of(broker, changelog, second, b"B")
    await _settle()
    broker.ack(b"B", 1)  # B's outputs first
    await _settle()
    assert changelog.handed == []  # B's changelog waits for A's
    broker.ack(b"A", 0)
    await sending_a
    await sending_b
    assert changelog.handed == [b"S1", b"S2"]
    assert table.data == {b"k": b"S2"}


async def test_a_failed_batch_lets_the_next_one_hand_its_changelog_over() -> None:
    table, broker, unstored, changelog = Table(), Broker(), Unstored(), Changelog()
    first, second = TableWrites(table, unstored), TableWrites(table, unstored)  # type: ignore[arg-type]
    first.put(Event(), b"k", b"S1")
    sending_a = batch_of(broker, changelog, first, b"A")
    await _settle()
    second.put(Event(), b"j", b"T1")
    sending_b = batch_of(broker, changelog, second, b"B")
    await _settle()
    broker.ack(b"B", 1)
    broker.acks[b"A"].set_exception(RuntimeError("the broker refused A"))
    with pytest.raises(RuntimeError):
        await sending_a
    await sending_b
    assert changelog.handed == [b"T1"]
