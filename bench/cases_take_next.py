"""Take-next and an inbox page with many open cases, on the real Kafka and Redis: opens
N cases through the case service (each written to case-events and acknowledged), then
times `take_next` (one claim each: lock, fold, write, acknowledge, apply) and
`listing(inbox, 100)` (the inbox page's read), one at a time.

    WG_KAFKA_BOOTSTRAP=... WG_REDIS_URL=... .venv/bin/python bench/cases_take_next.py [--cases N]

Uses a deployment of its own (topics and Redis keys under a fresh app id); delete its
topics afterwards if the broker is shared. Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from withdrawguard.adapters.case_store import RedisCaseStore, case_prefix
from withdrawguard.adapters.kafka_io import kafka_produce
from withdrawguard.adapters.redis_connection import async_redis
from withdrawguard.adapters.topic_admin import create_topics
from withdrawguard.cases.events import Trigger
from withdrawguard.cases.people import Actor
from withdrawguard.casework.config import load_case_config
from withdrawguard.casework.service import CaseService, CaseTopics
from withdrawguard.contract import topics as t
from withdrawguard.settings import Settings


def _news(n: int) -> Trigger:
    return Trigger(
        kind="hold",
        ref_id=f"hold-w{n}",
        severity="high",
        reason_codes=("DRAIN",),
        withdrawal_id=f"w{n}",
        amount=Decimal(50_000 + n),
        currency="JPY",
        hold_status="held",
    )


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000


async def run(cases: int, takes: int) -> dict[str, float | int]:
    base = Settings.from_env()
    run_id = uuid.uuid4().hex[:8]
    settings = replace(
        base, app_id=f"wg-bench-cases-{run_id}", topic_prefix=f"bench-cases-{run_id}."
    )
    create_topics(settings, log=lambda _line: None)
    names = t.TopicNames(settings)
    topics = CaseTopics(names.name(t.CASE_EVENTS), names.name(t.CASE_DECISIONS))
    redis = async_redis(settings)
    try:
        async with kafka_produce(settings) as produce:
            store = RedisCaseStore(redis, case_prefix(settings.app_id))
            service = CaseService(
                store, produce, topics, load_case_config(None), clock=lambda: datetime.now(UTC)
            )
            began = time.perf_counter()
            for start in range(0, cases, 16):
                await asyncio.gather(
                    *(
                        service.intake(f"c{n}", _news(n))
                        for n in range(start, min(cases, start + 16))
                    )
                )
            opened = time.perf_counter() - began
            pages, claims = [], []
            for k in range(takes):
                t0 = time.perf_counter()
                await service.listing("general", 100)
                pages.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                taken = await service.take_next(Actor(f"analyst-{k}", "analyst"), "general")
                claims.append(time.perf_counter() - t0)
                assert taken is not None
            await store.clear()
    finally:
        await redis.aclose()  # type: ignore[attr-defined]
    return {
        "open_cases": cases,
        "opened_per_second": round(cases / opened),
        "take_next_p50_ms": round(_p(claims, 50), 2),
        "take_next_p95_ms": round(_p(claims, 95), 2),
        "inbox_page_p50_ms": round(_p(pages, 50), 2),
        "inbox_page_p95_ms": round(_p(pages, 95), 2),
        "samples": takes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--takes", type=int, default=200)
    args = parser.parse_args()
    figures = asyncio.run(run(args.cases, args.takes))
    for key, value in figures.items():
        print(f"{key:>20}: {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
