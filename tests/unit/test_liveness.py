"""A worker that holds input and has committed nothing for WG_WEDGE_SECONDS is wedged:
/health says so (503, with why), the log says what every task awaits, the gauge is 1.
A busy worker, an idle one with nothing to do, one whose table restore reads and one
that moves again are not."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, NamedTuple

import pytest

from withdrawguard.streaming.guards.liveness import LivenessGuard
from withdrawguard.streaming.guards.stall_watch import ProgressWatch


class TP(NamedTuple):
    topic: str
    partition: int


A, B = TP("withdrawals", 0), TP("customer-events", 1)


def _looks(
    w: ProgressWatch[TP],
    start: float,
    end: float,
    done: dict[TP, int],
    ends: dict[TP, int],
    restored: int = 0,
) -> float | None:
    """Looks every 5 s from `start` up to `end` (as the lag timer does); the last answer."""
    found = None
    t = start
    while t <= end:
        found = w.observe(t, done, ends, restored)
        t += 5
    return found


def test_input_waiting_and_nothing_committed_for_the_bound_is_a_wedge() -> None:
    w: ProgressWatch[TP] = ProgressWatch(after=120)
    assert _looks(w, 0, 115, {A: 5, B: 7}, {A: 9, B: 7}) is None
    assert w.observe(120, {A: 5, B: 7}, {A: 31, B: 7}) == 120  # new input changes nothing
    assert w.observe(125, {A: 5, B: 7}, {A: 32, B: 7}) == 125


def test_any_partition_moving_is_progress() -> None:
    w: ProgressWatch[TP] = ProgressWatch(after=120)
    for t in range(80):
        # A never moves; B does: a stall of A (the stall guard's), not a wedged worker
        assert w.observe(t * 5.0, {A: 5, B: 7 + t}, {A: 900, B: 900}) is None


def test_nothing_to_do_is_never_a_wedge() -> None:
    w: ProgressWatch[TP] = ProgressWatch(after=120)
    assert _looks(w, 0, 600, {A: 9, B: 7}, {A: 9, B: 7}) is None


def test_a_table_restore_that_reads_is_progress_and_one_that_does_not_is_not() -> None:
    w: ProgressWatch[TP] = ProgressWatch(after=120)
    for t in range(60):
        assert w.observe(t * 5.0, {A: 5}, {A: 9}, restored=100 * t) is None
    # the restore read its last record at 295 s and nothing since
    assert _looks(w, 300, 410, {A: 5}, {A: 9}, restored=5900) is None
    assert w.observe(415, {A: 5}, {A: 9}, restored=5900) == 120


def test_time_the_broker_could_not_be_asked_is_not_counted() -> None:
    w: ProgressWatch[TP] = ProgressWatch(after=120, gap=30)
    _looks(w, 0, 100, {A: 5}, {A: 9})
    # the broker away for five minutes: no look; back, the worker has not committed yet
    assert w.observe(400, {A: 5}, {A: 9}) is None
    assert _looks(w, 405, 515, {A: 5}, {A: 9}) is None
    assert w.observe(520, {A: 5}, {A: 9}) == 120  # counted from its return


def test_the_clock_starts_again_after_progress_or_a_new_partition() -> None:
    w: ProgressWatch[TP] = ProgressWatch(after=120)
    _looks(w, 0, 95, {A: 5}, {A: 9})
    w.observe(100, {A: 6}, {A: 9})
    assert _looks(w, 105, 215, {A: 6}, {A: 9}) is None  # under 120 s since it moved
    w.observe(220, {A: 6, B: 1}, {A: 9, B: 3})  # B newly assigned: counts as a change
    assert _looks(w, 225, 335, {A: 6, B: 1}, {A: 9, B: 3}) is None
    assert w.observe(340, {A: 6, B: 1}, {A: 9, B: 3}) == 120


@dataclass
class Gauge:
    values: list[bool] = field(default_factory=list)

    def worker_wedged(self, wedged: bool) -> None:
        self.values.append(wedged)


def _app() -> Any:
    consumer = SimpleNamespace(assignment=lambda: {A})
    return SimpleNamespace(consumer=consumer, tables=None)


async def test_the_guard_says_why_once_and_clears_when_the_worker_moves_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    gauge = Gauge()
    guard = LivenessGuard(_app(), gauge, after=60, clock=lambda: now[0])
    for t in range(0, 65, 5):
        now[0] = t
        await guard.check({A: 5}, {A: 12})
    assert guard.reason is not None
    assert "no committed offset has moved for 60 s while 7 messages wait on 1 partitions" in (
        guard.reason
    )
    now[0] = 70
    await guard.check({A: 5}, {A: 13})  # still wedged: said once
    wedges = [r for r in caplog.records if "the worker is wedged" in r.getMessage()]
    assert len(wedges) == 1
    assert "What each agent awaits:\n  (not known)" in wedges[0].getMessage()
    assert "Worker state:\n== tasks (worker loop) ==" in wedges[0].getMessage()
    assert gauge.values == [True]
    now[0] = 75
    await guard.check({A: 8}, {A: 13})
    assert guard.reason is None
    assert gauge.values == [True, False]
