"""A partition behind its log end whose committed offset stands still for a minute is
stalled; a busy one, a caught-up one and one during a rebalance are not. The guard logs,
counts, resumes and seeks exactly the stalled ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pytest

from withdrawguard.streaming.guards import stall_guard as stall_watch
from withdrawguard.streaming.guards.stall_guard import StallGuard
from withdrawguard.streaming.guards.stall_watch import StallWatch


class TP(NamedTuple):
    topic: str
    partition: int


A, B, C = TP("logins", 0), TP("logins", 1), TP("customer-events", 2)


def test_behind_and_unmoved_for_the_whole_window_is_stalled() -> None:
    w: StallWatch[TP] = StallWatch(after=60)
    assert w.observe(0, {A: 5}, {A: 9}) == []
    assert w.observe(59, {A: 5}, {A: 9}) == []
    assert w.observe(60, {A: 5}, {A: 12}) == [A]  # new messages arriving change nothing


def test_a_moving_partition_is_busy_not_stalled() -> None:
    w: StallWatch[TP] = StallWatch(after=60)
    for t, offset in enumerate(range(5, 200, 3)):
        assert w.observe(t * 10.0, {A: offset}, {A: 1000}) == []


def test_a_caught_up_partition_is_never_stalled_and_the_clock_restarts_when_behind() -> None:
    w: StallWatch[TP] = StallWatch(after=60)
    w.observe(0, {A: 9}, {A: 9})
    assert w.observe(100, {A: 9}, {A: 9}) == []
    w.observe(100, {A: 9}, {A: 10})  # a message arrives: counting starts now
    assert w.observe(159, {A: 9}, {A: 10}) == []
    assert w.observe(160, {A: 9}, {A: 10}) == [A]


def test_partitions_no_longer_held_are_forgotten() -> None:
    w: StallWatch[TP] = StallWatch(after=60)
    w.observe(0, {A: 1, B: 1}, {A: 5, B: 5})
    w.observe(30, {A: 1}, {A: 5, B: 5})  # B went to another worker
    assert w.observe(61, {A: 1, B: 1}, {A: 5, B: 5}) == [A]  # B's clock started again at 61


@dataclass
class Consumer:
    resumed: list[set[TP]] = field(default_factory=list)
    seeks: list[tuple[TP, int]] = field(default_factory=list)
    _paused_partitions: set[TP] = field(default_factory=set)

    def resume_partitions(self, tps: set[TP]) -> None:
        self.resumed.append(set(tps))

    async def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))


@dataclass
class App:
    consumer: Consumer = field(default_factory=Consumer)
    rebalancing: bool = False
    in_recovery: bool = False


@dataclass
class Counts:
    stalls: list[str] = field(default_factory=list)

    def partition_stall(self, topic: str) -> None:
        self.stalls.append(topic)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [0.0]
    monkeypatch.setattr(stall_watch.time, "monotonic", lambda: now[0])
    return now


async def test_the_guard_resumes_only_the_stalled_partition_and_never_seeks(
    clock: list[float], caplog: Any
) -> None:
    app, counts = App(), Counts()
    app.consumer._paused_partitions.add(A)  # noqa: SLF001 - a fake consumer with the field the guard's fetch state reads
    guard = StallGuard(app, counts, after=60)
    done, ends = {A: 40, C: 7}, {A: 90, C: 7}
    assert await guard.check(done, ends) == []
    clock[0] = 61
    assert await guard.check(done, ends) == [A]
    assert app.consumer.resumed == [{A}] and app.consumer.seeks == []  # never a seek
    assert counts.stalls == ["logins"]
    assert "logins[0] has had 50 messages to process" in caplog.text
    assert "paused=True" in caplog.text
    clock[0] = 62  # kicked: its clock starts again rather than kicking every tick
    assert await guard.check(done, ends) == []


async def test_nothing_is_kicked_while_rebalancing_or_restoring_tables(clock: list[float]) -> None:
    app, counts = App(), Counts()
    guard = StallGuard(app, counts, after=60)
    done, ends = {A: 1}, {A: 5}
    await guard.check(done, ends)
    app.rebalancing = True
    clock[0] = 61
    assert await guard.check(done, ends) == []
    app.rebalancing, app.in_recovery = False, True
    clock[0] = 200
    assert await guard.check(done, ends) == []
    app.in_recovery = False
    clock[0] = 201
    assert await guard.check(done, ends) == []  # counting starts after the rebalance
    clock[0] = 262
    assert await guard.check(done, ends) == [A]
    assert app.consumer.resumed == [{A}]
