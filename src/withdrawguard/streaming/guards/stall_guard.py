"""Acting on a stalled partition: say so loudly, count it, and resume it.

Every `LAG_INTERVAL` the lag timer (`monitoring`) hands this guard the log end and the
committed offset of each partition this worker reads for the detector, as the broker
reports them (asked on connections of its own: a stuck consumer must not hide itself). A
partition behind its log end whose committed offset has not moved for `after` seconds
(WG_STALL_SECONDS, default `STALL_AFTER`), while the worker is neither rebalancing nor
restoring tables, is stalled (`stalls.StallWatch`).
The guard then logs an error with Faust's view of the partition (paused, active,
buffer-full), counts it (`withdrawguard_partition_stalls_total`, alert
WithdrawguardPartitionStalled) and resumes the partition in Faust's consumer, which ends
a stall of Faust's own bookkeeping (a partition left paused). It does not seek: a seek
while Faust drains a batch fetched before it makes Faust record the skipped offsets as
a gap, which its commit logic then counts as processed (`Consumer._drain_messages` and
`_add_gap`), so a later crash would lose those events. A stall inside aiokafka's fetcher
is therefore reported, not repaired: the alert says to restart the worker.

Why a guard rather than a fix: the stall seen once in the fault suite after a takeover
(docs/reliability.md) matches faust-streaming #629, which is open and not yet
reproduced on purpose here. A worker that stops fetching part of its partitions with no
error leaves those customers' withdrawals waiting (fail closed); this makes it visible
within about a minute (WG_STALL_SECONDS).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, Protocol

from faust.types import TP

from withdrawguard.streaming.faust_internals.fetch_state import describe_fetch
from withdrawguard.streaming.faust_internals.worker_dump import describe_worker
from withdrawguard.streaming.guards.stall_watch import StallWatch

log = logging.getLogger(__name__)

STALL_AFTER = 60.0


class StallMetrics(Protocol):
    def partition_stall(self, topic: str) -> None:
        """A partition of `topic` found stalled and resumed (here, or by the recovery
        guard for a changelog partition a restore still needs)."""


class StallGuard:
    def __init__(self, app: Any, metrics: StallMetrics, after: float = STALL_AFTER) -> None:
        self._app = app  # a faust.App: rebalancing, in_recovery, consumer
        self._metrics = metrics
        self._watch: StallWatch[Any] = StallWatch(after)
        self._after = after

    async def check(self, done: Mapping[Any, int], ends: Mapping[Any, int]) -> list[Any]:
        """Look at one round of offsets (keys: (topic, partition)); kick what is stalled."""
        if self._app.rebalancing or getattr(self._app, "in_recovery", False):
            self._watch.reset()  # offsets stand still on purpose meanwhile
            return []
        stalled = self._watch.observe(time.monotonic(), done, ends)
        if stalled:  # once a round: what every task, the producer and the commit wait for
            log.error("worker state at a stall:\n%s", describe_worker(self._app))
        for tp in stalled:
            await self._kick(tp, done[tp], ends[tp])
        self._watch.reset(stalled)
        return stalled

    async def _kick(self, key: Any, offset: int, end: int) -> None:
        topic, partition = key
        tp = TP(topic, partition)
        log.error(
            "partition %s[%d] has had %d messages to process and its committed offset %d "
            "has not moved for %.0f s; resuming it (faust-streaming #629). If this repeats "
            "for the same partition, restart this worker. Fetch state (paused, active, "
            "buffer full, position):\n%s",
            topic,
            partition,
            end - offset,
            offset,
            self._after,
            describe_fetch(self._app, [tp]),
        )
        self._metrics.partition_stall(topic)
        self._app.consumer.resume_partitions({tp})
