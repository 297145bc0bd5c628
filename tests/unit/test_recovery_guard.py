"""A table restore that receives nothing from a changelog partition it still needs is
found after a minute; the guard logs the fetch state, counts it, and resumes fetching
without emptying the changelog queue or seeking."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pytest
from faust.types import TP as FaustTP

from withdrawguard.streaming.faust_internals.fetch_state import describe_fetch
from withdrawguard.streaming.guards import recovery_guard
from withdrawguard.streaming.guards.recovery_guard import RecoveryGuard
from withdrawguard.streaming.guards.stall_watch import silent_changelogs


class TP(NamedTuple):
    topic: str
    partition: int


X, Y, Z = TP("customers-changelog", 0), TP("customers-changelog", 1), TP("source-ips-changelog", 2)


def test_a_partition_still_needed_with_nothing_since_the_start_is_silent() -> None:
    highs, offsets = {X: 10, Y: 5, Z: 8}, {X: 3, Y: 5, Z: -1}
    assert silent_changelogs(59.9, 0.0, {}, offsets, highs, 60) == []
    assert silent_changelogs(60.0, 0.0, {}, offsets, highs, 60) == [X, Z]  # Y is restored


def test_a_partition_that_delivered_recently_is_not_silent() -> None:
    highs, offsets = {X: 10, Z: 8}, {X: 3, Z: 2}
    received = {X: 50.0, Z: 5.0}
    assert silent_changelogs(100.0, 0.0, received, offsets, highs, 60) == [Z]
    assert silent_changelogs(110.0, 0.0, received, offsets, highs, 60) == [X, Z]


def test_records_from_before_the_restore_started_do_not_count() -> None:
    assert silent_changelogs(130.0, 100.0, {X: 90.0}, {X: 0}, {X: 4}, 60) == []
    assert silent_changelogs(160.0, 100.0, {X: 90.0}, {X: 0}, {X: 4}, 60) == [X]


@dataclass
class Recovery:
    in_recovery: bool = True
    _recovery_started_at: float | None = 0.0
    _active_events_received_at: dict[TP, float] = field(default_factory=dict)
    active_offsets: dict[TP, int] = field(default_factory=dict)
    active_highwaters: dict[TP, int] = field(default_factory=dict)


@dataclass
class Tables:
    recovery: Recovery = field(default_factory=Recovery)


@dataclass
class Consumer:
    flow_active: bool = True
    resumed: list[set[TP]] = field(default_factory=list)
    flow_resumed: int = 0
    _paused_partitions: set[TP] = field(default_factory=set)

    def resume_partitions(self, tps: set[TP]) -> None:
        self.resumed.append(set(tps))
        self._paused_partitions -= tps

    def resume_flow(self) -> None:
        self.flow_active = True
        self.flow_resumed += 1


@dataclass
class FlowControl:
    active: bool = True
    resumed: int = 0

    def is_active(self) -> bool:
        return self.active

    def resume(self) -> None:  # Faust's also empties the changelog queue
        self.active = True
        self.resumed += 1


@dataclass
class Fetcher:
    started: int = 0

    async def maybe_start(self) -> None:
        self.started += 1


@dataclass
class App:
    tables: Tables = field(default_factory=Tables)
    consumer: Consumer = field(default_factory=Consumer)
    flow_control: FlowControl = field(default_factory=FlowControl)
    _fetcher: Fetcher = field(default_factory=Fetcher)

    @property
    def in_recovery(self) -> bool:
        return self.tables.recovery.in_recovery


@dataclass
class Counts:
    stalls: list[str] = field(default_factory=list)

    def partition_stall(self, topic: str) -> None:
        self.stalls.append(topic)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [0.0]
    monkeypatch.setattr(recovery_guard.time, "monotonic", lambda: now[0])
    return now


def restoring(app: App) -> Recovery:
    r = app.tables.recovery
    r.active_highwaters.update({X: 10, Y: 5})
    r.active_offsets.update({X: 3, Y: 5})
    app.consumer._paused_partitions.add(X)  # noqa: SLF001 - a fake consumer with the field the guard's fetch state reads
    return r


async def test_the_guard_resumes_the_silent_partition_and_leaves_flow_control_alone(
    clock: list[float], caplog: Any
) -> None:
    app, counts = App(), Counts()
    restoring(app)
    guard = RecoveryGuard(app, counts, after=60)
    clock[0] = 59
    assert await guard.check() == []
    clock[0] = 61
    assert await guard.check() == [X]
    assert app.consumer.resumed == [{X}] and not app.consumer._paused_partitions  # noqa: SLF001 - a fake consumer with the field the guard's fetch state reads
    # Faust's own TP, whatever the recovery's maps hold (aiokafka's TopicPartition):
    # Faust's fetcher crashes on anything else in its active set
    assert all(type(tp) is FaustTP for tp in app.consumer.resumed[0])
    assert counts.stalls == ["customers-changelog"]
    assert app._fetcher.started == 1  # noqa: SLF001 - a fake app with the fetcher the guard restarts
    # flow was on: resuming Faust's flow control would have emptied the changelog queue
    assert app.flow_control.resumed == 0 and app.consumer.flow_resumed == 0
    assert "has received nothing for 60 s from customers-changelog[0]" in caplog.text
    assert "customers-changelog[0]: faust paused=True" in caplog.text
    clock[0] = 100  # kicked: not again every tick
    assert await guard.check() == []
    clock[0] = 121  # still silent a minute after the kick: kicked again
    assert await guard.check() == [X]


async def test_suspended_flow_is_put_back_on(clock: list[float]) -> None:
    app, counts = App(), Counts()
    restoring(app)
    app.consumer.flow_active = False
    app.flow_control.active = False
    clock[0] = 61
    assert await RecoveryGuard(app, counts, after=60).check() == [X]
    assert app.consumer.flow_resumed == 1 and app.flow_control.resumed == 1


async def test_nothing_is_done_outside_a_restore_or_while_records_arrive(
    clock: list[float],
) -> None:
    app, counts = App(), Counts()
    recovery = restoring(app)
    guard = RecoveryGuard(app, counts, after=60)
    recovery._active_events_received_at[X] = 30  # noqa: SLF001 - a fake recovery with the field the guard reads
    clock[0] = 61
    assert await guard.check() == []
    recovery.in_recovery = False
    clock[0] = 500
    assert await guard.check() == []
    assert app.consumer.resumed == [] and counts.stalls == []


async def test_the_fetch_state_names_unreadable_fields_and_where_the_fetch_loop_waits() -> None:
    stuck = asyncio.Event()

    async def wait_until_producer_ebb() -> None:
        await stuck.wait()

    async def _drain_messages() -> None:  # the name Faust's fetch loop has
        await wait_until_producer_ebb()

    async def _execute_task() -> None:  # the task runs the fetch loop some calls down
        await _drain_messages()

    task = asyncio.create_task(_execute_task())
    await asyncio.sleep(0)
    try:
        text = describe_fetch(object(), [X])
    finally:
        task.cancel()
    assert "consumer flow active=<AttributeError>" in text
    assert "customers-changelog[0]: faust paused=<AttributeError>" in text
    waits = text.split("fetch loop waits at:\n", 1)[1].splitlines()
    assert waits[0].endswith("_drain_messages") and waits[1].endswith("wait_until_producer_ebb")
