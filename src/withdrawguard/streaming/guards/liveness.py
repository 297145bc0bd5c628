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
moving), the guard logs an error once, with what every task of the worker awaits and
the fetch state, sets `withdrawguard_worker_wedged` to 1 (alert WithdrawguardWorkerWedged)
and `reason` says why: `/health` then answers 503 with it, so the orchestrator's
liveness probe restarts the worker, which replays from the last commit (at-least-once;
the engine makes the replay harmless). Should the worker move again by itself, the guard
says so and `/health` is ok again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from withdrawguard.streaming.faust_internals.fetch_state import describe_fetch
from withdrawguard.streaming.faust_internals.introspect import restore_progress
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
            "What each task awaits:\n%s\nFetch state:\n%s",
            self.reason,
            self._agents(),
            describe_tasks(),
            describe_fetch(self._app, list(self._app.consumer.assignment())),
        )


def describe_tasks(limit: int = TASKS_SHOWN) -> str:
    """One line a task of the running loop: its name and where it waits (the innermost
    frame of its coroutine chain), for a person reading the log at a wedge."""
    seen: dict[str, int] = {}
    for task in asyncio.all_tasks():
        line = f"{_name(task)}: {_awaiting(task)}"
        seen[line] = seen.get(line, 0) + 1
    lines = [f"  {line}" + (f" (x{n})" if n > 1 else "") for line, n in sorted(seen.items())]
    return "\n".join(lines[:limit]) or "  (no tasks)"


def _name(task: asyncio.Task[Any]) -> str:
    """The task's name, or its coroutine's when it has only asyncio's numbered one."""
    name = task.get_name()
    if name.startswith(("Task-", "<")):
        coro: Any = task.get_coro()
        return str(getattr(coro, "__qualname__", name))
    return name


def _awaiting(task: asyncio.Task[Any]) -> str:
    awaited: Any = task.get_coro()
    where, last = "?", None
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "ag_frame", None)
        if frame is not None:
            code = frame.f_code
            where = f"{code.co_name} ({code.co_filename.rsplit('/', 1)[-1]}:{frame.f_lineno})"
        last = awaited
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "ag_await", None)
    if last is not None and getattr(last, "cr_frame", getattr(last, "ag_frame", None)) is None:
        # `await future` leaves the future's iterator here, not the future
        kind = type(last).__name__
        where += " awaiting a Future" if kind in ("FutureIter", "Future") else f" in {kind}"
    return where
