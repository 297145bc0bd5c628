"""Faust's "seek back to the committed offsets" must also reach partitions that have none.

Faust discards records it has fetched whenever they arrive while the consumer's flow is
off, and then seeks every partition back to its committed offset so that they are
fetched again (`Consumer.getmany` → `perform_seek` → aiokafka's `seek_to_committed`).
aiokafka's `seek_to_committed` leaves a partition where it is when its committed offset
is missing or 0 (`if offset and offset > 0`), so for such a partition the discarded
records are skipped: the fetch position is already past them, Faust's read offset is
reset to nothing, and with no committed offset Faust's head check (`_new_offset`) does
not stop the next commit from passing them. Those events are lost without a trace.

A partition has no committed offset when its previous owner died before its first
commit there (commits run every few seconds) or on a new deployment. The fault suite
found it after a takeover (26 November): the killed worker had never committed
`account-changes` 1; the survivor's fetch loop fetched its first two new records while
the end of the restore held the flow off (`restore_handover.py`), discarded them, and
its seek left the position past them. The two account changes of one customer were never
applied and a hold went out without two of its reasons.

The fix: after aiokafka's seek, a stream partition (a topic Faust commits, not a table
changelog, which the restore positions itself) with no committed offset is put where
the consumer's `auto_offset_reset` puts a partition it has never read, and one committed
at 0 is put at 0. What it re-reads was not committed, so it is replayed at least once,
which the engine makes harmless.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

_PATCHED = "_withdrawguard_seeks_uncommitted"


async def seek_to_committed_or_reset(
    consumer: AIOKafkaConsumer, is_stream: Callable[[str], bool], reset: str
) -> Mapping[TopicPartition, int | None]:
    """aiokafka's `seek_to_committed`, then every stream partition it left alone (no
    committed offset, or 0) sought to where `reset` says. Returns what aiokafka returned:
    the committed offsets, which Faust takes as its read and committed offsets."""
    committed: dict[TopicPartition, int | None] = await consumer.seek_to_committed()
    at_zero = [tp for tp, offset in committed.items() if offset == 0 and is_stream(tp.topic)]
    unset = [tp for tp, offset in committed.items() if offset is None and is_stream(tp.topic)]
    for tp in at_zero:
        consumer.seek(tp, 0)
    if unset:
        if reset == "earliest":
            await consumer.seek_to_beginning(*unset)
        elif reset == "latest":
            await consumer.seek_to_end(*unset)
        # "none": aiokafka raises on such a partition when it fetches, as configured
    return committed


def seek_uncommitted_partitions_too() -> None:
    """Replace Faust's aiokafka consumer thread's `seek_to_committed` (once per process)
    with `seek_to_committed_or_reset`, run on the consumer's own thread as Faust's is."""
    original = AIOKafkaConsumerThread.seek_to_committed
    if getattr(original, _PATCHED, False):
        return

    @functools.wraps(original)
    async def seek_to_committed(self: AIOKafkaConsumerThread) -> Mapping[Any, int]:
        app = self.app
        committed: Mapping[Any, int] = await self.call_thread(
            seek_to_committed_or_reset,
            self._ensure_consumer(),
            app.topics.acks_enabled_for,
            app.conf.consumer_auto_offset_reset,
        )
        return committed

    setattr(seek_to_committed, _PATCHED, True)
    AIOKafkaConsumerThread.seek_to_committed = seek_to_committed  # type: ignore[method-assign]


def is_installed() -> bool:
    return bool(getattr(AIOKafkaConsumerThread.seek_to_committed, _PATCHED, False))
