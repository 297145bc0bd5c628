"""Sending one queued delivery: attempts bounded by a timeout, exponential backoff with
jitter between them, and after the last one a dead letter per alert (with `channel` and
`alert_id`); the dedup claim is then marked delivered or released, and the Kafka
message's tracker told that this channel is done with it."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from withdrawguard.contract import wire
from withdrawguard.notify.channel import Channel, NotifyMetrics, SendContext
from withdrawguard.notify.config import NotifyConfig
from withdrawguard.notify.dedup import DedupStore
from withdrawguard.notify.render import Message
from withdrawguard.notify.retry import DeliveryError, PermanentError, backoff_delay

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Source:
    """Where the alert (or hold) came from: for dead-letter records."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class DeadLetterSink(Protocol):
    async def __call__(self, key: bytes | None, record: dict[str, Any]) -> None: ...


class Tracker:
    """Calls `done` (the Kafka ack) once every channel is finished with one message."""

    def __init__(self, remaining: int, done: Callable[[], object]) -> None:
        self.remaining, self._done = remaining, done
        if remaining == 0:
            done()

    def finish(self) -> None:
        self.remaining -= 1
        if self.remaining == 0:
            self._done()


@dataclass(slots=True)
class Job:
    payload: dict[str, Any]
    source: Source
    tracker: Tracker
    claim: str | None


@dataclass(slots=True)
class Delivery:
    action: str
    payload: dict[str, Any]
    message: Message
    incident: str
    delivery_id: str
    jobs: list[Job] = field(default_factory=list)


@dataclass
class Deliverer:
    _config: NotifyConfig
    _channels: Mapping[str, Channel]
    _dedup: DedupStore
    _dead_letters: DeadLetterSink
    _metrics: NotifyMetrics | None
    """None: count nothing."""
    _clock: Callable[[], float]
    _sleep: Callable[[float], Awaitable[None]]
    _rand: Callable[[], float]

    async def deliver(self, name: str, d: Delivery) -> None:
        """Send with retries; then settle every job (delivered, or dead-lettered)."""
        channel, attempts = self._channels[name], self._config.attempts
        error = ""
        for attempt in itertools.count(1) if attempts == 0 else range(1, attempts + 1):
            ctx = SendContext(d.message, d.action, d.incident, d.delivery_id, self._clock())
            try:
                await asyncio.wait_for(channel.send(d.payload, ctx), self._config.timeout_seconds)
            except PermanentError as exc:
                error = str(exc)
                break
            except DeliveryError as exc:
                error = str(exc)
            except TimeoutError:
                error = f"no answer within {self._config.timeout_seconds:g}s"
            except Exception as exc:  # noqa: BLE001 - a channel bug must not stop delivery
                error = f"{type(exc).__name__} in channel"  # its text might hold a secret
            else:
                if self._metrics is not None:
                    self._metrics.notification_sent(name)
                for job in d.jobs:
                    await self._finish(job, delivered=True)
                return
            log.warning(
                "notification %s via %s failed (%d/%s): %s",
                d.delivery_id,
                name,
                attempt,
                attempts or "until delivered",
                error,
            )
            if attempts == 0 or attempt < attempts:
                await self._sleep(
                    backoff_delay(
                        attempt,
                        self._config.base_delay_seconds,
                        self._config.max_delay_seconds,
                        self._rand,
                    )
                )
        if self._metrics is not None:
            self._metrics.notification_failed(name)
        for job in d.jobs:
            await self._fail(name, job, d.action, f"notification via {name} failed: {error}")

    async def _finish(self, job: Job, *, delivered: bool) -> None:
        """Mark the dedup claim delivered (or drop it after a failure), then count the
        channel done for the message."""
        if job.claim:
            alert_id = str(job.payload.get("alert_id") or job.payload.get("event_id", ""))
            try:
                if delivered:
                    await self._dedup.complete(job.claim, alert_id)
                else:
                    await self._dedup.release(job.claim, alert_id)
            except Exception as exc:  # noqa: BLE001 - the claim expires on its own
                log.warning("could not update dedup claim (%s)", type(exc).__name__)
        job.tracker.finish()

    async def _fail(self, name: str, job: Job, action: str, error: str) -> None:
        src = job.source
        record = wire.dead_letter_of(src, error)
        record["channel"] = name
        record["alert_id"] = None if action == "resolve" else job.payload.get("alert_id")
        try:
            await self._dead_letters(src.key, record)
        except Exception:
            log.exception("could not dead-letter a failed notification; it stays unacknowledged")
            return
        await self._finish(job, delivered=False)
