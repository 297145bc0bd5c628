"""Case work in the worker: the case service over the Redis case store and the worker's
producer, and its three sinks (intake, projection, and the links feed of the case page's
links), each a sink consumer of its own group committing only what is done
(`consumer.SinkConsumer`). The inboxes and case policy are
read here, at start: a bad WG_INBOXES_FILE stops the worker with the key at fault."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import faust
from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from withdrawguard.adapters.case_store import Applied, RedisCaseStore, case_prefix
from withdrawguard.adapters.link_store import RedisLinkStore, links_prefix
from withdrawguard.adapters.redis_connection import async_redis
from withdrawguard.cases.links import LinkWindows
from withdrawguard.casework.config import load_case_config
from withdrawguard.casework.links import LinkReader
from withdrawguard.casework.locks import Busy
from withdrawguard.casework.service import CaseService, CaseTopics
from withdrawguard.casework.sla import case_report, timings
from withdrawguard.casework.sweeps import Sweeps, people_of
from withdrawguard.contract import topics as t
from withdrawguard.contract.records import Produce
from withdrawguard.engine.policy import Policy
from withdrawguard.settings import Settings
from withdrawguard.streaming.sinks.case_intake import SOURCES, intake_handler
from withdrawguard.streaming.sinks.case_projection import projection_handler
from withdrawguard.streaming.sinks.consumer import SinkConsumer, make_consumer
from withdrawguard.streaming.sinks.links import links_feed

REDIS_TIMEOUT = 2.0
SLA_INTERVAL = 30.0
"""Seconds between two counts of each inbox's cases (the gauges)."""
SWEEP_INTERVAL = 15.0
"""Seconds between two rounds of the sweeps (expiry, SLA breaches, auto-assignment)."""

log = logging.getLogger(__name__)


class CaseMetrics(Protocol):
    """What case work counts (`adapters.case_metrics` says what each is)."""

    def cases_due(self, inbox: str, open_cases: int, past_due: int) -> None: ...
    def cases_by_status(self, inbox: str, counts: Mapping[str, int]) -> None: ...
    def cases_oldest_open(self, inbox: str, seconds: float) -> None: ...
    def case_proposals_waiting(self, inbox: str, waiting: int, oldest_seconds: float) -> None: ...
    def case_first_action(self, inbox: str, seconds: float) -> None: ...
    def case_closed(self, inbox: str, outcome: str, seconds: float) -> None: ...


def register_cases(
    app: faust.App,
    settings: Settings,
    produce: Produce,
    metrics: CaseMetrics,
    live_policy: Callable[[], Policy],
) -> CaseService:
    """Run the case intake, projection and links sinks with the worker, and count each
    inbox's cases against its SLA; return the service they use (the console calls the
    same; `service.links_of(customer_id, now)` gives a case page's links, with the
    windows of `live_policy()`, the detection policy deciding now)."""
    config = load_case_config(settings.inboxes_file)
    redis = async_redis(
        settings, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
    )
    names = t.TopicNames(settings)
    store = RedisCaseStore(redis, case_prefix(settings.app_id), on_applied=_timed(metrics))
    link_store = RedisLinkStore(redis, links_prefix(settings.app_id))
    device = config.policy.link_device_window

    def windows() -> LinkWindows:
        return LinkWindows.of(live_policy(), device)

    service = CaseService(
        store,
        produce,
        CaseTopics(names.name(t.CASE_EVENTS), names.name(t.CASE_DECISIONS)),
        config,
        clock=lambda: datetime.now(UTC),
        links=LinkReader(link_store, store, windows),
    )
    logical = {names.name(s): s for s in SOURCES}
    feeds = [
        SinkConsumer(
            "case intake",
            intake_handler(service, logical),
            lambda listener: make_consumer(
                settings, names.sink_group("case-intake"), list(logical), listener
            ),
        ),
        SinkConsumer(
            "case projection",
            projection_handler(service),
            lambda listener: make_consumer(
                settings, names.sink_group("case-projection"), [names.name(t.CASE_EVENTS)], listener
            ),
        ),
        links_feed(settings, link_store, windows),
    ]
    for feed in feeds:
        app.task(feed.run)

    async def count() -> None:
        try:
            reports = await case_report(store, config.inboxes, datetime.now(UTC))
        except RedisError as exc:  # Redis away: the gauges keep their last values
            log.warning("could not count the inboxes' cases: %s", exc)
            return
        for r in reports:
            metrics.cases_due(r.inbox, r.open_cases, r.past_due)
            metrics.cases_by_status(r.inbox, r.by_status)
            metrics.cases_oldest_open(r.inbox, r.oldest_open_seconds)
            metrics.case_proposals_waiting(r.inbox, r.proposals, r.oldest_proposal_seconds)

    app.timer(SLA_INTERVAL, name="withdrawguard.case_sla")(count)
    sweeps = Sweeps(
        service, store, lambda: people_of(settings.users_file), clock=lambda: datetime.now(UTC)
    )

    async def sweep() -> None:
        try:
            swept = await sweeps.run()
        except (RedisError, KafkaError, Busy, OSError) as exc:  # the next round retries
            log.warning("case sweep stopped: %s", exc)
            return
        if swept is not None and (swept.expired or swept.breached or swept.assigned):
            log.info("case sweep: %s", swept)

    app.timer(SWEEP_INTERVAL, name="withdrawguard.case_sweep")(sweep)

    async def close(app: Any, **kwargs: Any) -> None:
        await asyncio.gather(*(feed.stop() for feed in feeds))  # one STOP_WAIT for all
        await redis.aclose()  # type: ignore[attr-defined]  # stubs predate aclose

    app.on_before_shutdown.connect(close)  # type: ignore[arg-type]  # async receivers are awaited
    return service


def _timed(metrics: CaseMetrics) -> Callable[[Applied], None]:
    def observe(applied: Applied) -> None:
        after = applied.after
        first, closed = timings(applied.before, after)
        if after is not None and first is not None:
            metrics.case_first_action(after.inbox, first)
        if after is not None and closed is not None:
            metrics.case_closed(after.inbox, after.outcome or "other", closed)

    return observe
