"""The links feed: destination and IP observations (with the device of each login)
projected into the Redis links projection (`adapters.link_store`) by a sink consumer in
the group `<app id>-links`, for the case page's links (docs/cases.md, "Links").

The records of a fetch are kept together, in one Redis round trip (`consumer.Together`),
and each is finished once Redis took their touches; while Redis fails they are retried
with capped backoff and nothing past them is committed. Records applied twice
change nothing (the projection only raises scores), and a record that is no
observation record is logged and skipped (the detector's own stage dead-letters it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from withdrawguard.cases.links import LinkWindows, Touch
from withdrawguard.casework.links import LinkSink, touches_in
from withdrawguard.contract import topics as t
from withdrawguard.settings import Settings
from withdrawguard.streaming.sinks.consumer import (
    Done,
    Record,
    SinkConsumer,
    Together,
    make_consumer,
)

log = logging.getLogger(__name__)

RETRY_FIRST, RETRY_MOST = 0.2, 5.0
SOURCES = (t.DESTINATION_OBSERVATIONS, t.IP_OBSERVATIONS)


def links_handler(
    store: LinkSink, logical: Mapping[str, str], windows: Callable[[], LinkWindows]
) -> Together:
    """Keep the touches of every record of a fetch in one `store.record` (one Redis round
    trip; retried while Redis fails), then finish each record. A record that is no
    observation record is logged and finished without a touch."""

    async def handle(records: list[tuple[Record, Done]]) -> None:
        touches: list[Touch] = []
        kept: list[Done] = []
        for record, done in records:
            try:
                touches += touches_in(logical[record.topic], record.value or b"")
            except (ValueError, TypeError) as exc:
                where = f"{record.topic}[{record.partition}]@{record.offset}"
                log.error("links feed: %s is no observation record, skipped: %s", where, exc)
                done()
                continue
            kept.append(done)
        delay = RETRY_FIRST
        while touches:
            try:
                await store.record(touches, windows())
                break
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning(
                    "links feed: %d records failed; retry in %.1f s",
                    len(kept),
                    delay,
                    exc_info=True,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MOST)
        for done in kept:
            done()

    return Together(handle)


def links_feed(
    settings: Settings, store: LinkSink, windows: Callable[[], LinkWindows]
) -> SinkConsumer:
    """The links feed of the worker (`streaming/sinks/cases.py` runs and stops it with the
    case sinks). `windows` gives the live policy's windows, asked on every record."""
    names = t.TopicNames(settings)
    logical = {names.name(s): s for s in SOURCES}
    return SinkConsumer(
        "links feed",
        links_handler(store, logical, windows),
        lambda listener: make_consumer(
            settings, names.sink_group("links"), list(logical), listener
        ),
    )
