"""The `notify` agent: fraud alerts to people, through the channels of WG_NOTIFY_CONFIG.

It reads `fraud-alerts` (and, when a PagerDuty channel is configured, `withdrawal-holds`,
to resolve incidents) at concurrency 1 with manual acknowledgement: each message is handed
to the `Notifier` inside its own try and acknowledged when every channel is done with it
(see `withdrawguard.streaming.notifier`). A message that cannot even be handed over is
dead-lettered and the stream goes on.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import faust
import orjson

from withdrawguard.adapters.notify import NotifyMetrics, build_channels
from withdrawguard.adapters.notify.http import HttpClient
from withdrawguard.adapters.notify.redis_store import RedisDedup, RedisIncidents
from withdrawguard.adapters.redis_connection import async_redis
from withdrawguard.notify.config import load_notify_config
from withdrawguard.settings import Settings
from withdrawguard.streaming import wire
from withdrawguard.streaming.notifier import Notifier, Source

log = logging.getLogger(__name__)


class WorkerMetrics(Protocol):
    """The worker's metrics as far as notifications go (`adapters.metrics.Metrics`)."""

    def notification_sent(self, channel: str) -> None: ...

    def notification_failed(self, channel: str) -> None: ...

    def notification_deduplicated(self, channel: str) -> None: ...


class _Counters:
    """`NotifyMetrics` on top of the worker's metrics."""

    def __init__(self, metrics: WorkerMetrics) -> None:
        self._m = metrics

    def sent(self, channel: str) -> None:
        self._m.notification_sent(channel)

    def failed(self, channel: str) -> None:
        self._m.notification_failed(channel)

    def deduplicated(self, channel: str) -> None:
        self._m.notification_deduplicated(channel)


class _Pipeline(Protocol):
    alerts: faust.TopicT
    holds: faust.TopicT
    dead_letters: faust.TopicT


def register_notifier(
    app: faust.App, settings: Settings, pipeline: _Pipeline, metrics: WorkerMetrics | None = None
) -> Notifier | None:
    """Add the `notify` agent when WG_NOTIFY_CONFIG is set (else do nothing)."""
    if settings.notify_config is None:
        return None
    # Secrets named by the routing file are read here, once, as the worker starts.
    config = load_notify_config(settings.notify_config, os.environ)
    http = HttpClient()
    redis = async_redis(settings)  # connects on first use
    prefix = f"wg:{settings.app_id}:notify"

    async def dead_letter(key: bytes | None, record: dict[str, Any]) -> None:
        await pipeline.dead_letters.send(key=key, value=orjson.dumps(record))

    notifier = Notifier(
        config,
        build_channels(config, http),
        dedup=RedisDedup(redis),
        incidents=RedisIncidents(redis, prefix),
        dead_letters=dead_letter,
        console_url=settings.console_url,
        prefix=prefix,
        metrics=_counters(metrics),
        closers=(http.close, redis.aclose),  # type: ignore[attr-defined]  # stubs predate aclose
    )

    async def notify(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for event in _manual_acks(stream):
            await _hand_over(event, notifier.submit, dead_letter)
            yield None

    async def notify_holds(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for event in _manual_acks(stream):
            await _hand_over(event, notifier.hold_update, dead_letter)
            yield None

    app.agent(pipeline.alerts, name="notify", concurrency=1)(notify)
    if notifier.wants_holds:
        app.agent(pipeline.holds, name="notify-holds", concurrency=1)(notify_holds)

    async def stop(app: Any, **kwargs: Any) -> None:
        await notifier.stop()

    app.on_before_shutdown.connect(stop)  # type: ignore[arg-type]  # async receivers are awaited
    log.info("notifications on: %s", ", ".join(f"{c.name} ({c.type})" for c in config.channels))
    return notifier


def _manual_acks(stream: faust.StreamT[bytes]) -> AsyncIterator[Any]:
    """The stream's events, acknowledged only by `event.ack()`, not by moving on."""
    manual: Any = stream.noack()  # type: ignore[attr-defined]  # StreamT's stub lacks noack
    events: AsyncIterator[Any] = manual.events()
    return events


def _counters(metrics: WorkerMetrics | None) -> NotifyMetrics | None:
    return None if metrics is None else _Counters(metrics)


Handler = Callable[[dict[str, Any], Source, Callable[[], object]], Awaitable[None]]


async def _hand_over(event: Any, handle: Handler, dead_letter: Any) -> None:
    msg = event.message
    source = Source(msg.topic, msg.partition, msg.offset, msg.key, msg.value)
    try:
        payload = orjson.loads(msg.value or b"")
        if not isinstance(payload, dict):
            raise ValueError("not a JSON object")
        await handle(payload, source, event.ack)
    except Exception as exc:
        log.exception("notification failed for %s[%s]@%s", msg.topic, msg.partition, msg.offset)
        record = wire.dead_letter(
            topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
            key=msg.key,
            value=msg.value,
            error=f"notification failed: {type(exc).__name__}: {exc}",
            error_field="",
            received_at=datetime.now(UTC),
        )
        record["channel"] = ""
        record["alert_id"] = None
        await dead_letter(msg.key, record)
        event.ack()
