"""Test-only entry point: the real `withdrawguard worker`, whose Faust consumer, after
seeking its partitions to their committed offsets, returns only once input records have
reached an agent's queue (or after `SLOW_SEEK` seconds). At the end of a table restore
Faust resumes the input partitions before that seek and empties the agents' queues after
it, so what is fetched in between is dropped unprocessed
(`withdrawguard.streaming.faust_internals.recovery`); in the full-size takeover where this was
found, the seek of forty partitions took half a second, long enough for a backlog to be
fetched. This makes the window certain instead of likely. Production has no such hook:
this module exists only in the test tree.

    python -m tests.faults.slow_seek_worker
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import traceback
from collections.abc import Mapping
from typing import Any

from faust.transport.drivers.aiokafka import Consumer

from withdrawguard.cli import main

log = logging.getLogger("tests.faults.slow_seek_worker")
SLOW_SEEK = 5.0
_seek = Consumer.seek_to_committed


async def slow_seek_to_committed(self: Any) -> Mapping[Any, int]:
    caller = next((f.name for f in reversed(traceback.extract_stack()) if f.name in CALLERS), "?")
    log.warning("fault suite: seek from %s, before: %s", caller, _books(self))
    offsets = await _seek(self)
    deadline = time.monotonic() + SLOW_SEEK
    while time.monotonic() < deadline and not _queued(self.app):  # noqa: ASYNC110 - no event to wait on
        await asyncio.sleep(0.005)
    log.warning(
        "fault suite: seek to committed offsets held until %d input records were queued",
        _queued(self.app),
    )
    log.warning(
        "fault suite: seek from %s, committed %s, after: %s", caller, _plain(offsets), _books(self)
    )
    return offsets


CALLERS = {"on_recovery_completed", "getmany", "_resume_streams"}


def _books(consumer: Any) -> str:
    """Faust's commit bookkeeping of the input partitions: read offset, committed offset,
    lowest acknowledged offset and how many are acknowledged."""
    tps = set(consumer._read_offset) | set(consumer._committed_offset) | set(consumer._acked)  # noqa: SLF001 - the fault suite logs Faust's commit bookkeeping
    rows = []
    for tp in sorted(t for t in tps if not t.topic.endswith("-changelog")):
        acked = consumer._acked.get(tp) or []  # noqa: SLF001 - the fault suite logs Faust's commit bookkeeping
        rows.append(
            f"{tp.topic.rsplit('.', 1)[-1]}[{tp.partition}]="
            f"r{consumer._read_offset.get(tp)}/c{consumer._committed_offset.get(tp)}"  # noqa: SLF001 - the fault suite logs Faust's commit bookkeeping
            f"/a{min(acked) if acked else '-'}x{len(acked)}"
        )
    return " ".join(rows)


def _plain(offsets: Mapping[Any, int]) -> str:
    return " ".join(
        f"{tp.topic.rsplit('.', 1)[-1]}[{tp.partition}]={o}"
        for tp, o in sorted(offsets.items())
        if not tp.topic.endswith("-changelog")
    )


def _queued(app: Any) -> int:
    """Records waiting in the queues of the channels that read the input topics."""
    channels = {ch for chans in app.topics._tp_index.values() for ch in chans}  # noqa: SLF001 - the fault suite counts the input channels' queued records
    # Through the `queue` property, which creates a channel's queue if it has none yet:
    # with this read, the takeover lost the records of a partition the killed worker had
    # never committed in 3 of 11 runs before `streaming/faust_internals/transport.py`; reading
    # `_queue` instead, in none of 16 (docs/reliability.md, *Fixed*).
    return sum(ch.queue.qsize() for ch in channels)


if __name__ == "__main__":
    Consumer.seek_to_committed = slow_seek_to_committed  # type: ignore[method-assign]
    sys.exit(main(["worker"]))
