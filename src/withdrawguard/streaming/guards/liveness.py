"""A worker that has stopped committing altogether reports itself not live.

The broker SIGKILL fault once left the worker alive and idle for minutes after the
broker came back (issue 25, docs/reliability.md "A wedged worker"): every agent awaited
something that never came, no committed offset moved on any partition although each
held input, and nothing but a restart brought it back; the stall guard resumed
partitions, which changed nothing, and `/health` said ok. Whatever the cause, such a
worker must not stay up: every withdrawal it owns waits, and payment systems that fail
closed hold them all.

Every `LAG_INTERVAL` the lag timer (`streaming/monitoring.py`) hands this guard the
committed offsets and log ends of the partitions this worker reads, asked of the broker
on connections of their own. When input waits and nothing has moved for
`WG_WEDGE_SECONDS` (`stall_watch.ProgressWatch`; a table restore that reads counts as
moving), the guard logs an error once, with what each agent awaits and the worker's
state (`faust_internals.worker_dump`: every task's await chain, the producer's batches,
the aiokafka clients, the commit bookkeeping, the fetch state), sets
`withdrawguard_worker_wedged` to 1 (alert WithdrawguardWorkerWedged) and `reason` says
why: `/health` then answers 503 with it, so the orchestrator's liveness probe restarts
the worker, which replays from the last commit (at-least-once; the engine makes the
replay harmless). Should the worker move again by itself, the guard says so and
`/health` is ok again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from withdrawguard.streaming.faust_internals.introspect import restore_progress
from withdrawguard.streaming.faust_internals.worker_dump import describe_worker
from withdrawguard.streaming.guards.stall_watch import ProgressWatch

log = logging.getLogger(__name__)

TASKS_SHOWN = 60
"""Most tasks the wedge's log entry describes (a worker runs about forty)."""


class LivenessMetrics(Protocol):
    def worker_wedged(self, wedged: bool) -> None: ...


class LivenessGuard:
    def __init__(
        self,
        app: Any,
        metrics: LivenessMetrics,
        after: float,
        clock: Callable[[], float] = time.monotonic,
        agents: Callable[[], str] = lambda: "  (not known)",
    ) -> None:
        self._app = app  # a faust.App: its consumer's assignment, the fetch state
        self._metrics = metrics
        self._watch: ProgressWatch[Any] = ProgressWatch(after)
        self._clock = clock
        self._agents = agents
        self.reason: str | None = None
        """Why this worker is not live; None while it is."""

    async def check(self, done: Mapping[Any, int], ends: Mapping[Any, int]) -> None:
        """Look at one round of offsets (keys: (topic, partition))."""
        restore = restore_progress(self._app)
        restored = sum(restore.offsets.values()) if restore is not None else 0
        idle = self._watch.observe(self._clock(), done, ends, restored)
        if idle is None:
            if self.reason is not None:
                log.warning("this worker commits again; it is live again (was: %s)", self.reason)
                self.reason = None
                self._metrics.worker_wedged(False)
            return
        if self.reason is not None:
            return  # said once; /health keeps saying it
        behind = {k: ends[k] - v for k, v in done.items() if v < ends.get(k, v)}
        self.reason = (
            f"no committed offset has moved for {idle:.0f} s while {sum(behind.values())} "
            f"messages wait on {len(behind)} partitions: the worker is wedged"
        )
        self._metrics.worker_wedged(True)
        log.error(
            "%s; /health now answers 503 so that the liveness probe restarts it (it "
            "replays from the last commit; nothing is lost). What each agent awaits:\n%s\n"
            "Worker state:\n%s",
            self.reason,
            self._agents(),
            describe_worker(self._app),
        )
