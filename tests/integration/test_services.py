"""The services themselves: a Faust agent consumes from the real broker; Redis round-trips."""

from __future__ import annotations

import pytest
import redis

from tests.integration.harness import Bus, unique
from withdrawguard.settings import Settings

pytestmark = pytest.mark.integration


def test_redis_round_trips_a_value(settings: Settings) -> None:
    client = redis.Redis.from_url(settings.redis_url)
    key = unique("wg-it")
    client.set(key, b"held", ex=60)
    assert client.get(key) == b"held"
    client.delete(key)


def test_worker_agent_consumes_a_message_produced_to_a_real_topic(bus: Bus) -> None:
    # A login is consumed by the ingest agent and then by the detector; its trace is the
    # committed offset of the worker's consumer group on both topics.
    from datetime import UTC, datetime

    from withdrawguard.sim import scenarios as s

    cid = unique("agent")
    bus.send([s.login(cid, f"{cid}-l", datetime.now(UTC))])
    bus.wait_idle()
