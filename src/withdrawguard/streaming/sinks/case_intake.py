"""The case intake: the detector's hold verdicts, holds' fates and alerts opening and
joining cases (`casework.news` says what each topic brings), through
the case service (`casework.service.CaseService.intake`), by a sink consumer in the group
`<app id>-case-intake`. A record is finished once its events are on `case-events` and in
the store; while Kafka or Redis fails it is retried (nothing past it is committed), and
records read twice write nothing twice (event ids derive from the news)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import orjson

from withdrawguard.cases.case import CaseFoldError
from withdrawguard.cases.codec import CaseEventError
from withdrawguard.casework.news import alert_trigger, hold_trigger, verdict_trigger
from withdrawguard.casework.service import CaseService
from withdrawguard.contract import topics as t
from withdrawguard.streaming.sinks.consumer import Done, Handler, Record

log = logging.getLogger(__name__)

RETRY_FIRST, RETRY_MOST = 0.2, 5.0
SOURCES = (t.WITHDRAWAL_DECISIONS, t.WITHDRAWAL_HOLDS, t.FRAUD_ALERTS)
READERS = {
    t.WITHDRAWAL_DECISIONS: verdict_trigger,
    t.WITHDRAWAL_HOLDS: hold_trigger,
    t.FRAUD_ALERTS: alert_trigger,
}


def intake_handler(service: CaseService, logical: dict[str, str]) -> Handler:
    """Read one hold or alert as news, hand it to the service (retrying), finish it."""

    async def handle(record: Record, done: Done) -> None:
        try:
            value = orjson.loads(record.value) if record.value else None
        except orjson.JSONDecodeError:
            value = None
        news = READERS[logical[record.topic]](value) if isinstance(value, dict) else None
        if news is not None:
            await until_done(lambda: service.intake(*news), f"{record.topic}:{record.offset}")
        done()

    return handle


async def until_done(step: Callable[[], Awaitable[object]], what: str) -> None:
    """Run `step()` until it succeeds, backing off while Kafka or Redis fails. A record
    that can never be applied (a broken case log) is logged and left: retrying it would
    stop the partition for good."""
    delay = RETRY_FIRST
    while True:
        try:
            await step()
            return
        except asyncio.CancelledError:
            raise
        except (CaseFoldError, CaseEventError) as exc:
            log.error("case sink: %s cannot be applied, skipped: %s", what, exc)
            return
        except Exception:
            log.warning("case sink: %s failed; retrying in %.1f s", what, delay, exc_info=True)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MOST)
