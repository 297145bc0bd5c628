"""Test-only entry point: the real `withdrawguard worker`, whose Faust consumer, after
seeking its partitions to their committed offsets, returns only once input records have
reached an agent's queue (or after `SLOW_SEEK` seconds). At the end of a table restore
Faust resumes the input partitions before that seek and empties the agents' queues after
it, so what is fetched in between is dropped unprocessed
(`withdrawguard.streaming.restore_handover`); in the full-size takeover where this was
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
from collections.abc import Mapping
from typing import Any

from faust.transport.drivers.aiokafka import Consumer

from withdrawguard.cli import main

log = logging.getLogger("tests.faults.slow_seek_worker")
SLOW_SEEK = 5.0
_seek = Consumer.seek_to_committed


async def slow_seek_to_committed(self: Any) -> Mapping[Any, int]:
    offsets = await _seek(self)
    deadline = time.monotonic() + SLOW_SEEK
    while time.monotonic() < deadline and not _queued(self.app):  # noqa: ASYNC110 - no event to wait on
        await asyncio.sleep(0.005)
    log.warning(
        "fault suite: seek to committed offsets held until %d input records were queued",
        _queued(self.app),
    )
    return offsets


def _queued(app: Any) -> int:
    """Records waiting in the queues of the channels that read the input topics."""
    channels = {ch for chans in app.topics._tp_index.values() for ch in chans}
    # `_queue`, not `queue`: reading the property would create a queue nobody reads
    queues = [q for q in (getattr(ch, "_queue", None) for ch in channels) if q is not None]
    return sum(q.qsize() for q in queues)


if __name__ == "__main__":
    Consumer.seek_to_committed = slow_seek_to_committed  # type: ignore[method-assign]
    sys.exit(main(["worker"]))
