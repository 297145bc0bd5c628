"""The notifier's bounded backlog: at most WG_NOTIFY_BACKLOG_MAX alerts in memory while a
channel fails, the feed paused (not blocked) at the bound, retries until delivered with
`attempts = 0`, and nothing handed over or committed past while paused."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import TopicPartition

from tests.unit.notify_fakes import RecordingChannel, alert
from tests.unit.test_notify_delivery import Harness
from tests.unit.test_registry_sink import FakeConsumer, Rec
from withdrawguard.notify.backlog import Backlog
from withdrawguard.notify.config import parse_notify_config
from withdrawguard.notify.retry import DeliveryError, backoff_delay
from withdrawguard.settings import Settings, SettingsError
from withdrawguard.streaming.sinks.consumer import Done, SinkConsumer

TP0 = TopicPartition("alerts", 0)


async def test_the_backlog_admits_up_to_its_limit_then_waits_for_a_place() -> None:
    sizes: list[int] = []
    backlog = Backlog(2, sizes.append)
    leave_a = await backlog.enter()
    await backlog.enter()
    assert backlog.full()
    third = asyncio.create_task(backlog.enter())
    await asyncio.sleep(0.01)
    assert not third.done()
    leave_a()
    leave_a()  # a second call gives back nothing more
    await asyncio.wait_for(third, 1)
    assert backlog.size == 2
    assert sizes == [1, 2, 1, 2]


def test_a_backlog_of_no_place_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Backlog(0)


@dataclass
class Gated:
    """A channel that fails (retryably) until `open` is set; records what it sent."""

    name: str
    open: bool = False
    attempts: int = 0
    sent: list[str] = field(default_factory=list)

    async def send(self, payload: dict[str, Any], ctx: Any) -> None:
        self.attempts += 1
        await asyncio.sleep(0)  # the test's sleep does not yield: let the test run
        if not self.open:
            raise DeliveryError("HTTP 503: down")
        alerts = payload.get("alerts", [payload])
        self.sent.extend(str(a["alert_id"]) for a in alerts)


async def until(check: Any, what: str) -> None:
    for _ in range(2000):
        if check():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"never: {what}")


@pytest.mark.parametrize("rate", [0, 2])
async def test_a_failing_channel_fills_the_backlog_then_every_alert_is_delivered_once(
    rate: int,
) -> None:
    hook = Gated("hook")
    h = Harness(hook, rate=rate, attempts=0, max_delay_seconds=30.0)  # type: ignore[arg-type]
    h.notifier.backlog = Backlog(3)
    assert h.notifier.has_room()
    await h.submit(*(alert(alert_id=f"a-{i}", customer_id=f"C-{i}") for i in range(3)))
    assert not h.notifier.has_room()  # the feed pauses here: the rest stay in Kafka
    fourth = asyncio.create_task(h.submit(alert(alert_id="a-3", customer_id="C-3")))
    try:
        await until(lambda: hook.attempts > 60, "retries far past the default four")
        assert not fourth.done() and h.notifier.backlog.size == 3 and h.acks == 0
        retry_waits = [w for w in h.waits if w != 60.0]  # 60: the digest's window
        assert max(retry_waits) == 30.0  # backoff at its cap, and never given up:
        assert len(h.dead) == 0
    finally:
        hook.open = True  # else the retrying workers outlive a failed test
    await asyncio.wait_for(fourth, 5)
    await h.settle()
    assert sorted(hook.sent) == [f"a-{i}" for i in range(4)]  # each once
    assert h.acks == 4 and h.notifier.backlog.size == 0 and h.dead == []


async def test_with_attempts_zero_a_refused_message_still_goes_to_dead_letters() -> None:
    class Refusing(RecordingChannel):
        async def send(self, alert: dict[str, Any], ctx: Any) -> None:
            from withdrawguard.notify.retry import PermanentError

            self.attempts += 1
            raise PermanentError("HTTP 400: bad payload")

    h = Harness(Refusing("hook"), attempts=0)
    await h.submit(alert())
    await h.settle()
    assert h.channels["hook"].attempts == 1 and "HTTP 400" in h.dead[0]["error"]
    assert h.notifier.backlog.size == 0 and h.acks == 1


async def test_a_channel_queue_at_queue_size_also_stops_the_intake() -> None:
    hook = Gated("hook")
    h = Harness(hook, attempts=0, queue_size=2, workers_per_channel=1)  # type: ignore[arg-type]
    await h.submit(alert(alert_id="a-0", customer_id="C-0"))
    await until(lambda: hook.attempts > 0, "the first attempt")  # taken off the queue
    await h.submit(*(alert(alert_id=f"a-{i}", customer_id=f"C-{i}") for i in (1, 2)))
    assert not h.notifier.has_room() and h.notifier.backlog.size == 3
    hook.open = True
    await h.settle()
    assert h.acks == 3


def test_attempts_zero_is_accepted_and_late_backoffs_do_not_overflow() -> None:
    raw = {
        "notify": {"attempts": 0},
        "channels": {"h": {"type": "webhook", "url": "https://x.test/", "secret_env": "S"}},
    }
    assert parse_notify_config(raw, {"S": "s"}).attempts == 0
    assert backoff_delay(5000, 0.5, 30.0, lambda: 1.0) == 30.0


def test_the_backlog_bound_is_a_setting_checked_at_start() -> None:
    assert Settings.from_env({}).notify_backlog_max == 1000
    assert Settings.from_env({"WG_NOTIFY_BACKLOG_MAX": "50"}).notify_backlog_max == 50
    with pytest.raises(SettingsError, match="WG_NOTIFY_BACKLOG_MAX must be between 1"):
        Settings.from_env({"WG_NOTIFY_BACKLOG_MAX": "0"})
    with pytest.raises(SettingsError, match="WG_NOTIFY_BACKLOG_MAX must be an integer"):
        Settings.from_env({"WG_NOTIFY_BACKLOG_MAX": "lots"})


@dataclass
class Pausable(FakeConsumer):
    """A consumer that records pauses, resumes and seeks; `on_idle` runs on every poll
    after the batches (it may finish records, or stop the feed)."""

    paused: set[TopicPartition] = field(default_factory=set)
    seeks: list[tuple[TopicPartition, int]] = field(default_factory=list)
    polls_paused: int = 0
    stray: dict[TopicPartition, list[Rec]] = field(default_factory=dict)
    on_idle: Any = None

    def pause(self, *tps: TopicPartition) -> None:
        self.paused |= set(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self.paused -= set(tps)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Rec]]:
        if self.paused:
            self.polls_paused += 1
            stray, self.stray = self.stray, {}
            if self.on_idle is not None:
                self.on_idle()
            await asyncio.sleep(0)
            return stray
        return await super().getmany(timeout_ms, max_records)


async def test_at_the_bound_the_feed_pauses_polls_on_and_commits_below_open_ones() -> None:
    held: dict[int, Done] = {}
    seen: list[int] = []
    limit = 2

    async def handle(record: Any, done: Done) -> None:
        seen.append(record.offset)
        held[record.offset] = done

    recs = [Rec("alerts", 0, o, b"{}") for o in range(10, 15)]
    consumer = Pausable([{TP0: recs}], assigned={TP0})
    consumer.stray = {TP0: [Rec("alerts", 0, 15, b"{}")]}  # fetched as the pause came
    waits: list[float] = []

    def on_idle() -> None:
        if consumer.polls_paused == 3:  # the channel is back: the first one finishes
            held.pop(10)()
        if consumer.polls_paused == 6:
            for offset in sorted(held):
                held.pop(offset)()

    consumer.on_idle = on_idle
    sink = SinkConsumer(
        "test sink",
        handle,
        lambda listener: consumer,
        has_room=lambda: len(held) < limit,
        waited=waits.append,
    )
    consumer.feed = sink
    await sink.run()
    assert seen == [10, 11, 12, 13, 14]  # in order, none skipped, none twice
    assert (TP0, 15) in consumer.seeks  # the stray record is read again, not dropped
    assert consumer.paused == set() and len(waits) == 6  # resumed; each paused poll counted
    # Commits while paused, and never at or past a record still open (13 and 14 are).
    assert consumer.commits == [{TP0: 10}, {TP0: 11}, {TP0: 13}]
    assert sorted(held) == [13, 14]
