"""Acting on a table restore that has stopped receiving: say so with the fetch state,
count it, and resume fetching those changelog partitions.

After a rebalance Faust restores each table partition it newly holds from its changelog
before the streams go on (`faust.tables.recovery`). faust-streaming has open reports of a
restore that simply stops receiving (#176, #596; #74 for a full buffer), and the fault
suite saw one after a takeover: for four minutes the survivor logged "No event received
for active tp" for the partitions it had taken over, with no error, while every
withdrawal of those customers waited (fail closed). Faust's own watchdog only warns.

Every `LAG_INTERVAL` this guard asks Faust's recovery which changelog partitions it still
needs have delivered nothing for `after` seconds (WG_STALL_SECONDS, default
`SILENT_AFTER`; `stalls.silent_changelogs`). For those it logs an error with
`fetch_state.describe_fetch` (flow flags, Faust's and aiokafka's view of each partition,
queue sizes, where the fetch loop waits), counts them
(`withdrawguard_partition_stalls_total`, alert WithdrawguardPartitionStalled) and puts
back what the restore step itself sets before it waits: the partitions resumed in Faust's
consumer, the consumer's flow on, the fetcher started. Faust's app-wide flow control is
resumed only when it is found suspended, because resuming it also empties the changelog
queue (`clear_on_resume`), which would drop records the restore has not read yet. It never
seeks: the restore's own read offsets stay what Faust computed.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from faust.types import TP

from withdrawguard.streaming.faust_internals.fetch_state import describe_fetch
from withdrawguard.streaming.faust_internals.introspect import restart_fetcher, restore_progress
from withdrawguard.streaming.guards.stall_guard import StallMetrics
from withdrawguard.streaming.guards.stall_watch import silent_changelogs

log = logging.getLogger(__name__)

SILENT_AFTER = 60.0


class RecoveryGuard:
    def __init__(self, app: Any, metrics: StallMetrics, after: float = SILENT_AFTER) -> None:
        self._app = app  # a faust.App: in_recovery, tables.recovery, consumer, flow_control
        self._metrics = metrics
        self._after = after
        self._kicked: dict[Any, float] = {}

    async def check(self) -> list[Any]:
        """Look at the restore under way, if any; kick its silent partitions, each at most
        once every `after` seconds. Returns the partitions kicked."""
        restore = restore_progress(self._app)
        if restore is None:
            self._kicked.clear()
            return []
        now, started = time.monotonic(), restore.started
        silent = silent_changelogs(
            now, started, restore.received, restore.offsets, restore.highwaters, self._after
        )
        due = [tp for tp in silent if now - self._kicked.get(tp, started) >= self._after]
        if due:
            await self._kick(due, now - started)
            self._kicked.update((tp, now) for tp in due)
        return due

    async def _kick(self, tps: list[Any], running: float) -> None:
        app = self._app
        log.error(
            "table restore running for %.0f s has received nothing for %.0f s from %s; "
            "resuming them. If this repeats, restart this worker (faust-streaming #176, "
            "#596). Fetch state:\n%s",
            running,
            self._after,
            ", ".join(f"{tp.topic}[{tp.partition}]" for tp in tps),
            describe_fetch(app, tps),
        )
        for tp in tps:
            self._metrics.partition_stall(tp.topic)
        consumer = app.consumer
        # Faust's own TP: the recovery's maps are keyed by aiokafka's TopicPartition, and
        # Faust's consumer asserts its active set holds only TPs (a fetcher crash if not)
        consumer.resume_partitions({TP(tp.topic, tp.partition) for tp in tps})
        if not consumer.flow_active:
            consumer.resume_flow()
        if not app.flow_control.is_active():
            app.flow_control.resume()
        await restart_fetcher(app)
