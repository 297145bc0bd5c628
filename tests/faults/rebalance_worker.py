"""Test-only entry point: the real `withdrawguard worker` with small stream buffers and
batches, and agents slowed down per batch, so that its buffers are full and its drain
loop waits on them (the interruptible path of `streaming/faust_internals/drain.py`) when
a rebalance comes; and with a check that no event of a partition is handed to an agent,
or finished by one, once the worker has given the partition up. Production has no such
hook: this module exists only in the test tree and is started only by the fault suite.

    python -m tests.faults.rebalance_worker

It logs, every `STATS_EVERY` seconds and when it stops, one line of figures (`STATS`):
hand-overs that could wait (a full buffer, flow control held, ...), waits a rebalance's
suspended flow ended, events checked, and ownership violations; and each violation at
once (`VIOLATION`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Any

import faust
from faust.types import TP

from withdrawguard.cli import main
from withdrawguard.settings import Settings
from withdrawguard.streaming.faust_internals import drain
from withdrawguard.worker import run as worker

log = logging.getLogger("tests.faults.rebalance_worker")
BUFFER = 8
"""Events an agent's stream buffer holds (Faust's default is 4,096)."""
SLOW_BATCH = 0.15
"""Seconds each batch of an agent is held before it is decided."""
BATCH_MAX = "32"
"""WG_BATCH_MAX: an agent gathers its next batch while one is held (`ready_batches`), and
only once that batch is full does its stream stop taking events and its buffer fill."""
STATS_EVERY = 5.0
STATS = "fault suite: drain figures"
VIOLATION = "fault suite: OWNERSHIP VIOLATION"

_create_app = worker.create_app
_reason = drain.WaitWatch.reason
_wait_first = faust.Service.wait_first


class Figures:
    could_wait = 0
    interrupted = 0
    checked = 0
    violations = 0

    @classmethod
    def line(cls) -> str:
        return (
            f"{STATS}: pid={os.getpid()} could_wait={cls.could_wait} interrupted={cls.interrupted} "
            f"checked={cls.checked} violations={cls.violations}"
        )


def counting_reason(self: drain.WaitWatch, tp: TP) -> int:
    why = _reason(self, tp)
    Figures.could_wait += why != drain.NONE
    return why


async def counting_wait_first(self: Any, *coros: Any, **kwargs: Any) -> Any:
    result = await _wait_first(self, *coros, **kwargs)
    suspend = getattr(self, "suspend_flow", None)
    if suspend is not None and suspend.is_set():
        Figures.interrupted += 1  # the flow was suspended meanwhile: a rebalance came
    return result


class Ownership(faust.Sensor):
    """Flags an event of a partition this worker gave up (revocation done: Faust's
    `on_partitions_revoked` signal, sent after the streams are emptied and the offsets
    committed) and was not given back (the start of the next assignment's table
    rebalance, before any restore or stream resumes)."""

    def __init__(self) -> None:
        super().__init__()
        self.given_up: set[TP] = set()

    def revoked(self, revoked: set[TP]) -> None:
        self.given_up |= set(revoked)

    def assigned(self, assigned: set[TP]) -> None:
        self.given_up -= set(assigned)

    def check(self, tp: TP, offset: int, when: str) -> None:
        Figures.checked += 1
        if tp in self.given_up:
            Figures.violations += 1
            log.error("%s: %s[%d]@%d %s after revocation", VIOLATION, tp.topic, tp.partition,
                      offset, when)  # fmt: skip

    def on_stream_event_in(self, tp: TP, offset: int, stream: Any, event: Any) -> None:
        self.check(tp, offset, "handed to an agent")

    def on_stream_event_out(
        self, tp: TP, offset: int, stream: Any, event: Any, state: Any = None
    ) -> None:
        self.check(tp, offset, "finished by an agent")


def rebalance_app(settings: Settings, engine: Any, **options: Any) -> Any:
    detector = _create_app(settings, engine, stream_buffer_maxsize=BUFFER, **options)
    app, pipeline = detector.app, detector.pipeline
    handle = pipeline.handle

    async def slow_handle(handler: Any, events: Any, agent: str = "") -> None:
        await asyncio.sleep(SLOW_BATCH)
        await handle(handler, events, agent)

    pipeline.handle = slow_handle  # type: ignore[method-assign]  # the agents call self.handle

    ownership = Ownership()
    app.sensors.add(ownership)

    async def on_revoked(sender: Any, revoked: set[TP], **_: Any) -> None:
        ownership.revoked(revoked)

    app.on_partitions_revoked.connect(on_revoked)
    rebalance = app.tables.on_rebalance

    async def tables_on_rebalance(assigned: set[TP], *args: Any) -> None:
        ownership.assigned(assigned)
        await rebalance(assigned, *args)

    app.tables.on_rebalance = tables_on_rebalance

    async def figures() -> None:
        log.warning(Figures.line())

    app.timer(STATS_EVERY, name="tests.faults.drain_figures")(figures)

    async def last_figures(app: Any, **_: Any) -> None:
        log.warning(Figures.line())

    app.on_before_shutdown.connect(last_figures)
    return detector


if __name__ == "__main__":
    drain.WaitWatch.reason = counting_reason  # type: ignore[method-assign]
    faust.Service.wait_first = counting_wait_first  # type: ignore[method-assign]
    worker.create_app = rebalance_app  # type: ignore[assignment]  # run_worker builds this app
    os.environ["WG_BATCH_MAX"] = BATCH_MAX
    sys.exit(main(["worker"]))
