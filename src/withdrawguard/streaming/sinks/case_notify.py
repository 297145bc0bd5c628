"""Case events out: `case-events` records whose kind the notification config routes
(`[case_events]`; `sla_breached` by default where high-severity alerts go) handed to the
notifier, by a sink consumer in the group `<app id>-case-notify`.

Each event goes to its channels with the event id as its dedup key (claimed per channel
in Redis) and in its delivery id (`<event id>:<channel>`, the `X-Withdrawguard-Delivery`
header): an event read twice, or written twice to the topic by a writer that died
between Kafka and Redis, is delivered once. A record is finished when every channel is
done with it (delivered, a repeat, or dead-lettered after the retries), and the feed
commits only below the first unfinished one, as the alerts' feed does.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson

from withdrawguard.cases.summary import Summary
from withdrawguard.notify.case_render import case_link, render_case_event
from withdrawguard.notify.config import NotifyConfig
from withdrawguard.notify.notifier import Notifier, Source
from withdrawguard.settings import Settings
from withdrawguard.streaming.sinks.consumer import (
    Done,
    Handler,
    Record,
    SinkConsumer,
    make_consumer,
)

log = logging.getLogger(__name__)

Summaries = Callable[[Sequence[str]], Awaitable[list[Summary]]]


def case_event_payload(
    event: dict[str, Any], brief: Summary | None, console_url: str
) -> dict[str, Any]:
    """What channels get: the event as on the topic, and the case in brief."""
    case = {
        "case_id": str(event.get("case_id", "")),
        "customer_id": str(event.get("customer_id") or (brief.customer_id if brief else "")),
        "inbox": str(event.get("inbox") or (brief.inbox if brief else "")),
        "status": brief.status if brief else "",
        "link": case_link(console_url, str(event.get("case_id", ""))),
    }
    return {
        "event_id": str(event["event_id"]),
        "customer_id": case["customer_id"],
        "event": event,
        "case": case,
    }


def case_notify_handler(
    notifier: Notifier, config: NotifyConfig, summaries: Summaries, console_url: str
) -> Handler:
    async def handle(record: Record, done: Done) -> None:
        try:
            event = orjson.loads(record.value or b"")
        except orjson.JSONDecodeError:
            event = None
        if not isinstance(event, dict) or not event.get("event_id"):
            log.error("case notify: %s:%s is no case event", record.topic, record.offset)
            done()
            return
        channels = config.case_events.get(str(event.get("kind")), ())
        if not channels:
            done()
            return
        found = await summaries([str(event.get("case_id", ""))])
        payload = case_event_payload(event, found[0] if found else None, console_url)
        message = render_case_event(event, payload["case"], console_url)
        source = Source(record.topic, record.partition, record.offset, record.key, record.value)
        await notifier.submit_case_event(payload, message, channels, source, done)

    return handle


def case_notify_feed(
    settings: Settings,
    notifier: Notifier,
    config: NotifyConfig,
    summaries: Summaries,
    topic: str,
    group: str,
) -> SinkConsumer:
    """The sink consumer of `topic` (case-events) in `group`, paused while the notifier
    has no room."""
    return SinkConsumer(
        "case notify feed",
        case_notify_handler(notifier, config, summaries, settings.console_url),
        lambda listener: make_consumer(settings, group, [topic], listener),
        has_room=notifier.has_room,
    )
