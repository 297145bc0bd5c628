"""The notify feed: fraud alerts to people, through the channels of WG_NOTIFY_CONFIG
(and, when it routes any, case events: `case_notify`).

A sink consumer (`sink.SinkConsumer`, group `<app id>-notify`) reads `fraud-alerts` (and,
when a PagerDuty channel is configured, `withdrawal-holds`, to resolve incidents) and
hands each record to the `Notifier` inside its own try, while the notifier `has_room`
(else the feed pauses: at most WG_NOTIFY_BACKLOG_MAX alerts in memory); the record is
finished when every channel is done with it (see `withdrawguard.notify.notifier`),
which may be after later records, and nothing at or past the first unfinished record is
committed.
A record that cannot even be handed over is dead-lettered and the feed goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import faust
import orjson
from faust.types import TopicT

from withdrawguard.adapters.case_store import RedisCaseStore, case_prefix
from withdrawguard.adapters.notify import build_channels
from withdrawguard.adapters.notify.http import HttpClient
from withdrawguard.adapters.notify.redis_store import RedisDedup, RedisIncidents
from withdrawguard.adapters.redis_connection import async_redis
from withdrawguard.contract import wire
from withdrawguard.contract.topics import CASE_EVENTS, TopicNames
from withdrawguard.notify.backlog import Backlog
from withdrawguard.notify.channel import NotifyMetrics
from withdrawguard.notify.config import load_notify_config
from withdrawguard.notify.notifier import Notifier, Source
from withdrawguard.registry.keys import notify_prefix
from withdrawguard.settings import Settings
from withdrawguard.streaming.sinks.case_notify import case_notify_feed
from withdrawguard.streaming.sinks.consumer import Done, Record, SinkConsumer, make_consumer

log = logging.getLogger(__name__)


class NotifySinkMetrics(NotifyMetrics, Protocol):
    """The notifier's counts, and the feed's backlog and back-pressure."""

    def notification_backlog(self, n: int) -> None:
        """Alerts the notifier now holds in memory (bounded by WG_NOTIFY_BACKLOG_MAX)."""

    def notification_backpressure(self, seconds: float) -> None:
        """Seconds the notify feed just spent paused, waiting for room in the backlog."""


class _Pipeline(Protocol):
    alerts: TopicT
    holds: TopicT
    dead_letters: TopicT


def register_notifier(
    app: faust.App,
    settings: Settings,
    pipeline: _Pipeline,
    metrics: NotifySinkMetrics | None = None,
) -> Notifier | None:
    """Run the notify feed when WG_NOTIFY_CONFIG is set (else do nothing)."""
    if settings.notify_config is None:
        return None
    # Secrets the routing file names are looked up in the environment the settings were
    # built from (at the entry point), once, as the worker starts.
    config = load_notify_config(settings.notify_config, settings.environ)
    http = HttpClient()
    redis = async_redis(settings)  # connects on first use
    prefix = notify_prefix(settings.app_id)  # the registry's hash tag: one cluster slot

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
        metrics=metrics,
        backlog=Backlog(
            settings.notify_backlog_max, None if metrics is None else metrics.notification_backlog
        ),
        closers=(http.close, redis.aclose),  # type: ignore[attr-defined]  # stubs predate aclose
    )

    alerts, holds = _only(pipeline.alerts), _only(pipeline.holds)
    handlers: dict[str, Handler] = {alerts: notifier.submit}
    if notifier.wants_holds:
        handlers[holds] = notifier.hold_update

    async def handle(record: Record, done: Done) -> None:
        await _hand_over(record, handlers[record.topic], dead_letter, done)

    group = TopicNames(settings).sink_group("notify")
    feed = SinkConsumer(
        "notify feed",
        handle,
        lambda listener: make_consumer(settings, group, list(handlers), listener),
        has_room=notifier.has_room,
        waited=None if metrics is None else metrics.notification_backpressure,
    )
    feeds = [feed]
    if any(config.case_events.values()):  # case events out (`[case_events]`)
        store = RedisCaseStore(redis, case_prefix(settings.app_id))
        names = TopicNames(settings)
        feeds.append(
            case_notify_feed(
                settings,
                notifier,
                config,
                store.summaries,
                names.name(CASE_EVENTS),
                names.sink_group("case-notify"),
            )
        )
    for running in feeds:
        app.task(running.run)

    async def stop(app: Any, **kwargs: Any) -> None:
        await asyncio.gather(*(running.stop() for running in feeds))
        await notifier.stop()

    app.on_before_shutdown.connect(stop)  # type: ignore[arg-type]  # async receivers are awaited
    log.info("notifications on: %s", ", ".join(f"{c.name} ({c.type})" for c in config.channels))
    return notifier


def _only(topic: TopicT) -> str:
    [name] = topic.topics
    return name


Handler = Callable[[dict[str, Any], Source, Callable[[], object]], Awaitable[None]]


async def _hand_over(msg: Record, handle: Handler, dead_letter: Any, done: Done) -> None:
    source = Source(msg.topic, msg.partition, msg.offset, msg.key, msg.value)
    try:
        payload = orjson.loads(msg.value or b"")
        if not isinstance(payload, dict):
            raise ValueError("not a JSON object")
        await handle(payload, source, done)
    except Exception as exc:
        log.exception("notification failed for %s[%s]@%s", msg.topic, msg.partition, msg.offset)
        error = f"notification failed: {type(exc).__name__}: {exc}"
        record = wire.dead_letter_of(msg, error)
        record["channel"] = ""
        record["alert_id"] = None
        await dead_letter(msg.key, record)
        done()
