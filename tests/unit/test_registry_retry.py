"""A registry write is retried until Redis takes it; an unreadable record is skipped."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis

from tests.unit.registry_fakes import MemoryRegistry
from tests.unit.test_registry_projection import HELD_THEN_RELEASED
from withdrawguard.registry.apply import Change
from withdrawguard.registry.projection import DECISIONS
from withdrawguard.streaming.sinks.registry_retry import Backoff, apply_until_done


@dataclass
class Message:
    partition: int
    offset: int
    value: bytes


@dataclass
class Counts:
    writes: list[str] = field(default_factory=list)
    retries: int = 0

    def registry_write(self, topic: str) -> None:
        self.writes.append(topic)

    def registry_retry(self) -> None:
        self.retries += 1


class FlakyRegistry(MemoryRegistry):
    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def update_withdrawal(self, withdrawal_id: str, change: Change) -> bool:
        if self.failures:
            self.failures -= 1
            raise redis.ConnectionError("Connection refused")
        return await super().update_withdrawal(withdrawal_id, change)


async def test_a_write_is_retried_with_capped_backoff_until_redis_takes_it() -> None:
    store, counts, slept = FlakyRegistry(failures=8), Counts(), []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    topic, partition, offset, value = HELD_THEN_RELEASED[0]
    done = await apply_until_done(
        store, topic, Message(partition, offset, value), counts, Backoff(0.1, 2.0), sleep
    )
    assert done and counts.retries == 8 and counts.writes == [DECISIONS]
    assert (await store.withdrawal("W1"))["decision"] == "hold"
    assert 0.05 <= slept[0] <= 0.1 and all(s <= 2.0 for s in slept) and max(slept) >= 1.0


async def test_a_record_it_cannot_read_is_skipped_not_retried() -> None:
    counts = Counts()
    done = await apply_until_done(MemoryRegistry(), DECISIONS, Message(0, 0, b"{"), counts)
    assert not done and counts.retries == 0 and counts.writes == []
