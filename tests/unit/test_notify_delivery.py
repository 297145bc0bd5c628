"""The notifier: dedup, rate limit with digest, retries with backoff, dead letters, acks."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import pytest

from tests.unit.notify_fakes import Counts, MemoryDedup, MemoryIncidents, RecordingChannel, alert
from withdrawguard.notify.config import ChannelConfig, NotifyConfig
from withdrawguard.notify.notifier import Notifier, Source
from withdrawguard.notify.retry import PermanentError, backoff_delay, schedule

SOURCE = Source("fraud-alerts", 2, 41, b"C-100234", b"{}")


class Harness:
    def __init__(
        self,
        *channels: RecordingChannel,
        rate: int = 0,
        dedup: MemoryDedup | None = None,
        **conf: Any,
    ) -> None:
        self.channels = {c.name: c for c in channels}
        self.config = NotifyConfig(
            channels=tuple(
                ChannelConfig(c.name, "pagerduty" if c.name == "pd" else "webhook", "low", rate)
                for c in channels
            ),
            base_delay_seconds=0.5,
            **conf,
        )
        self.dedup = dedup or MemoryDedup()
        self.incidents = MemoryIncidents()
        self.counts = Counts()
        self.dead: list[dict[str, Any]] = []
        self.waits: list[float] = []
        self.acks = 0
        self.now = 1_700_000_000.0

        async def sink(key: bytes | None, record: dict[str, Any]) -> None:
            self.dead.append(record)

        async def sleep(seconds: float) -> None:
            self.waits.append(seconds)

        self.notifier = Notifier(
            self.config,
            self.channels,
            dedup=self.dedup,
            incidents=self.incidents,
            dead_letters=sink,
            console_url="http://console",
            prefix="wg:test:notify",
            metrics=self.counts,
            clock=lambda: self.now,
            sleep=sleep,
            rand=lambda: 1.0,
        )

    def ack(self) -> None:
        self.acks += 1

    async def submit(self, *alerts: dict[str, Any]) -> None:
        for a in alerts:
            await self.notifier.submit(a, SOURCE, self.ack)

    async def settle(self) -> None:
        for _ in range(3):  # digests are queued by a task of their own
            await asyncio.sleep(0)
            await self.notifier.drain()
        await self.notifier.stop()


def test_backoff_doubles_from_the_base_with_jitter_up_to_the_cap() -> None:
    assert schedule(4, 0.5, 30, lambda: 1.0) == [0.5, 1.0, 2.0]
    assert schedule(4, 0.5, 30, lambda: 0.0) == [0.25, 0.5, 1.0]
    assert schedule(5, 10, 15, lambda: 1.0) == [10, 15, 15, 15]
    assert 0.5 <= backoff_delay(2, 0.5, 30, lambda: 0.3) <= 1.0


async def test_a_channel_failing_three_times_then_recovering_gets_one_message() -> None:
    h = Harness(RecordingChannel("hook", failures=3))
    await h.submit(alert())
    await h.settle()
    assert len(h.channels["hook"].sent) == 1
    assert h.channels["hook"].attempts == 4
    assert h.waits == [0.5, 1.0, 2.0]
    assert h.counts.sent_ == ["hook"]
    assert h.dead == []
    assert h.acks == 1


async def test_a_channel_that_never_recovers_ends_in_dead_letters_and_is_counted() -> None:
    h = Harness(RecordingChannel("hook", failures=99), RecordingChannel("other"))
    await h.submit(alert())
    await h.settle()
    [record] = h.dead
    assert record["channel"] == "hook"
    assert record["alert_id"] == "a-1"
    assert record["source_topic"] == "fraud-alerts"
    assert (record["partition"], record["offset"], record["key"]) == (2, 41, "C-100234")
    assert "HTTP 503" in record["error"]
    assert h.counts.failed_ == ["hook"]
    assert len(h.channels["other"].sent) == 1
    assert h.acks == 1
    assert h.dedup.claims.keys() == {k for k in h.dedup.claims if ":other:" in k}  # released


async def test_a_refused_message_is_not_retried() -> None:
    class Refusing(RecordingChannel):
        async def send(self, alert: dict[str, Any], ctx: Any) -> None:
            self.attempts += 1
            raise PermanentError("HTTP 400: bad payload")

    h = Harness(Refusing("hook"))
    await h.submit(alert())
    await h.settle()
    assert h.channels["hook"].attempts == 1
    assert "HTTP 400" in h.dead[0]["error"]


async def test_an_attempt_that_hangs_is_cut_by_the_timeout() -> None:
    h = Harness(RecordingChannel("hook", delay=5), attempts=1, timeout_seconds=0.05)
    await h.submit(alert())
    await h.settle()
    assert "no answer within 0.05s" in h.dead[0]["error"]


async def test_the_same_customer_and_rules_notify_once_per_window() -> None:
    h = Harness(RecordingChannel("hook"))
    await h.submit(
        alert(alert_id="a-1", withdrawal_id="W-1"),
        alert(alert_id="a-2", withdrawal_id="W-2"),
        alert(alert_id="a-3", codes=("NEW_DEVICE",)),
        alert(alert_id="a-4", customer_id="C-other"),
    )
    await h.settle()
    assert [a["alert_id"] for a, _ in h.channels["hook"].sent] == ["a-1", "a-3", "a-4"]
    assert h.counts.deduplicated_ == ["hook"]
    assert h.acks == 4


async def test_an_alert_redelivered_before_it_was_delivered_is_sent_again() -> None:
    h = Harness(RecordingChannel("hook"))
    claim = "wg:test:notify:dedup:hook:"
    await h.submit(alert())
    await h.settle()
    [(key, value)] = h.dedup.claims.items()
    assert key.startswith(claim) and value == "done:a-1"
    h.dedup.claims[key] = "pending:a-1"  # as if the worker died before finishing
    h2 = Harness(RecordingChannel("hook"), dedup=h.dedup)
    await h2.submit(alert())
    await h2.settle()
    assert len(h2.channels["hook"].sent) == 1


async def test_over_the_rate_limit_the_rest_come_as_one_digest() -> None:
    h = Harness(RecordingChannel("hook"), rate=2)
    await h.submit(*(alert(alert_id=f"a-{i}", customer_id=f"C-{i}") for i in range(39)))
    assert h.acks == 0
    await h.settle()
    sent = h.channels["hook"].sent
    assert [ctx.action for _, ctx in sent] == ["trigger", "trigger", "digest"]
    assert sent[2][1].message.title == "[CRITICAL] and 37 more alerts"
    assert len(sent[2][0]["alerts"]) == 37
    assert h.waits == [60.0]
    assert h.acks == 39
    assert set(h.dedup.claims.values()) == {f"done:a-{i}" for i in range(39)}


async def test_a_slow_channel_does_not_hold_up_the_agent_or_another_channel() -> None:
    h = Harness(RecordingChannel("slow", delay=0.3), RecordingChannel("fast"))
    started = time.monotonic()
    await h.submit(alert())
    assert time.monotonic() - started < 0.05
    await asyncio.sleep(0.05)
    assert len(h.channels["fast"].sent) == 1
    assert h.channels["slow"].sent == []
    assert h.acks == 0  # acknowledged only when every channel is done
    await h.settle()
    assert h.acks == 1


async def test_pagerduty_incident_resolves_when_every_hold_is_released() -> None:
    h = Harness(RecordingChannel("pd"))
    await h.submit(alert(alert_id="a-1", withdrawal_id="W-1"))
    await h.submit(alert(alert_id="a-2", withdrawal_id="W-2"))
    await h.notifier.hold_update({"withdrawal_id": "W-1", "status": "released"}, SOURCE, h.ack)
    await h.notifier.drain()
    assert [ctx.action for _, ctx in h.channels["pd"].sent] == ["trigger"]
    await h.notifier.hold_update(
        {"withdrawal_id": "W-2", "status": "confirmed_fraud"}, SOURCE, h.ack
    )
    await h.settle()
    sent = h.channels["pd"].sent
    assert [ctx.action for _, ctx in sent] == ["trigger", "resolve"]
    assert sent[0][1].incident == sent[1][1].incident
    assert h.acks == 4


@pytest.mark.parametrize("severity", ["low", "medium"])
async def test_alerts_below_every_channel_minimum_are_acknowledged_at_once(severity: str) -> None:
    h = Harness(RecordingChannel("hook"))
    h.notifier.config = replace(
        h.config, channels=(replace(h.config.channels[0], min_severity="high"),)
    )
    await h.submit(alert(severity=severity))
    assert h.acks == 1
    await h.settle()
    assert h.channels["hook"].sent == []
