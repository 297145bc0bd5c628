"""Guards: what notices a part of the worker that has stopped moving, says so, and puts
it back in motion.

- `stall_watch`: telling a stalled partition from a busy one, and a silent changelog
  from a restoring one (plain data in, partitions out; no Faust).
- `stall_guard`: a stream partition whose committed offset stands still behind its log
  end is logged with its fetch state, counted and resumed.
- `recovery_guard`: a table restore that receives nothing is logged, counted and resumed.
- `liveness`: a worker that has stopped committing altogether reports itself not live
  (`/health` 503), so that the orchestrator restarts it.

`register_guards` starts them on a worker: the stall and liveness guards are fed by the
lag timer (`streaming/monitoring.py`, `Guards.check`), the restore guard runs its own
loop from the first assignment (Faust's timers start only after the first restore has
completed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import faust

from withdrawguard.streaming.guards.liveness import LivenessGuard, LivenessMetrics
from withdrawguard.streaming.guards.recovery_guard import RecoveryGuard
from withdrawguard.streaming.guards.stall_guard import StallGuard, StallMetrics

log = logging.getLogger(__name__)

CHECK_INTERVAL = 5.0
"""Seconds between two looks at a table restore under way."""


class GuardMetrics(StallMetrics, LivenessMetrics, Protocol):
    pass


@dataclass
class Guards:
    """The guards the lag timer feeds, and whether the worker is live."""

    stalls: StallGuard
    liveness: LivenessGuard

    async def check(self, done: Mapping[Any, int], ends: Mapping[Any, int]) -> None:
        """One round of committed offsets and log ends, by (topic, partition)."""
        await self.stalls.check(done, ends)
        await self.liveness.check(done, ends)

    def not_live(self) -> str | None:
        """Why this worker is not live (for `/health`); None while it is."""
        return self.liveness.reason


def register_guards(
    app: faust.App,
    metrics: GuardMetrics,
    wedge_seconds: float,
    stall_seconds: float,
    agents: Callable[[], str] = lambda: "  (not known)",
) -> Guards:
    """Start the restore guard with the first assignment; return the guards the lag timer
    hands each round of offsets to (`Guards.check`). `agents` says what each agent awaits
    (for the log line of a wedge)."""
    restore_guard = RecoveryGuard(app, metrics, stall_seconds)
    started: list[Any] = []

    async def watch_table_restores() -> None:
        async for _ in app.itertimer(CHECK_INTERVAL, name="withdrawguard.table_restore"):
            try:
                await restore_guard.check()
            except Exception:  # a bug here must not end the watch
                log.exception("the table restore guard failed")

    async def start_restore_watch(sender: Any, *args: Any, **kwargs: Any) -> None:
        # Faust starts app timers only once the first restore is complete, and that one
        # (a new worker, or one whose data dir was lost) needs watching most: so the
        # watch starts with the first assignment instead, and runs until the app stops.
        if not started:
            started.append(app.add_future(watch_table_restores()))

    app.on_partitions_assigned.connect(start_restore_watch)  # type: ignore[arg-type]
    metrics.worker_wedged(False)
    liveness = LivenessGuard(app, metrics, wedge_seconds, agents=agents)
    return Guards(StallGuard(app, metrics, stall_seconds), liveness)
