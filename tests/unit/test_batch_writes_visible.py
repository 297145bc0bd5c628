"""Two agents write the customers table (ingest for inputs decided in place, detect for
customer-events). A batch's values must be what the other agent reads as soon as the
batch is decided, not only once its outputs are handed to the producer: that hand-over
waits when a partition has no leader (a frozen broker), and a batch that read the older
value meanwhile overwrote the first one's write (the three-broker SIGSTOP fault lost a
DESTINATION_SHARED notice that way). The order the batches then reach the store in is
tests/unit/test_table_writes.py's."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from withdrawguard.contract.records import Record
from withdrawguard.streaming.detect.writes import Outbox, TableWrites, Unstored, flush


@dataclass
class Table:
    """The little of a Faust table `TableWrites` uses, with a memory store."""

    data: dict[bytes, bytes] = field(default_factory=dict)
    changelog_topic: Any = field(
        default_factory=lambda: SimpleNamespace(get_topic_name=lambda: "customers-changelog")
    )


@dataclass
class SlowProducer:
    """Hands records over only once `open` is set, as aiokafka's send waits for a leader."""

    open: asyncio.Event = field(default_factory=asyncio.Event)
    sent: list[Record] = field(default_factory=list)

    async def __call__(self, record: Record) -> None:
        await self.open.wait()
        self.sent.append(record)


class Event:
    """An event of partition 2 (Faust's current event is held by a weak reference)."""

    message = SimpleNamespace(partition=2)


EVENT = Event()


async def test_a_batch_waiting_to_hand_over_its_outputs_already_shows_its_values() -> None:
    table, shared = Table({b"c525b": b"logins"}), Unstored()
    producer = SlowProducer()
    ingest = TableWrites(table, shared)  # type: ignore[arg-type] # the little TableWrites uses
    ingest.put(EVENT, b"c525b", b"logins+withdrawal")
    outbox = Outbox()
    outbox.add(0, "withdrawal-decisions", b"c525b", b"allow")
    sending = asyncio.create_task(flush(producer, outbox, [ingest]))
    await asyncio.sleep(0)  # ingest's batch now waits for the producer

    detect = TableWrites(table, shared)  # type: ignore[arg-type]
    assert detect.get(EVENT, b"c525b") == b"logins+withdrawal"

    producer.open.set()
    await sending
    assert table.data[b"c525b"] == b"logins+withdrawal"
    assert shared.values == {}  # stored: nothing left unstored


async def test_a_failed_batch_withdraws_the_values_it_showed() -> None:
    table, shared = Table({b"k": b"old"}), Unstored()

    async def broken(record: Record) -> None:
        raise RuntimeError("the producer is closed")

    writes = TableWrites(table, shared)  # type: ignore[arg-type]
    writes.put(EVENT, b"k", b"new")
    outbox = Outbox()
    outbox.add(0, "withdrawal-decisions", b"k", b"v")
    with pytest.raises(RuntimeError):
        await flush(broken, outbox, [writes])
    assert shared.values == {}
    assert TableWrites(table, shared).get(EVENT, b"k") == b"old"  # type: ignore[arg-type]
