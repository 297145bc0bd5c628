"""The case store under the race every case write runs: the writer applying its events
while the projection sink applies the same events read back from `case-events`, on
real Redis."""

from __future__ import annotations

import asyncio

import pytest

from tests.unit.test_cases_builders import INBOXES, T0, news
from withdrawguard.adapters.case_store import RedisCaseStore, case_prefix
from withdrawguard.adapters.redis_connection import async_redis
from withdrawguard.cases.intake import intake
from withdrawguard.settings import Settings

pytestmark = pytest.mark.integration

CASES = 300


def test_an_apply_that_finds_its_events_applied_meanwhile_returns_the_case_never_none(
    settings: Settings,
) -> None:
    """The writer and the projection apply each new case's `opened` at once. The one
    that finds the event applied by the other must return the case as stored. It used
    to read the log before the event ids, so a write landing between the two reads gave
    an empty log with the event already seen: a case of None, and the intake's write
    failed its `after is not None` check (seen in worker logs at start-up)."""

    async def go() -> list[tuple[object, object]]:
        redis = async_redis(settings)
        store = RedisCaseStore(redis, case_prefix(settings.app_id) + "race:")
        try:
            outcomes = []
            for i in range(CASES):
                [opened] = intake([], f"cust-{i}", news(f"hold-w{i}"), now=T0, inboxes=INBOXES)
                a, b = await asyncio.gather(store.apply([opened]), store.apply([opened]))
                outcomes.append((a.after, b.after))
                assert len(a.new) + len(b.new) == 1, "the event is applied exactly once"
            return outcomes
        finally:
            await store.clear()
            await redis.aclose()  # type: ignore[attr-defined]

    outcomes = asyncio.run(go())
    missing = [i for i, (a, b) in enumerate(outcomes) if a is None or b is None]
    assert not missing, f"{len(missing)} of {CASES} applies returned no case: {missing[:10]}"
    assert all(a == b for a, b in outcomes)
