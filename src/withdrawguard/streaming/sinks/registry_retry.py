"""One registry write, retried until Redis takes it (the registry feed's inner step).

While Redis is down or slow the write is retried with capped exponential backoff (0.1 s
doubling to 2 s, with jitter) and the caller does not move on, so nothing past the record
is committed. Writes are idempotent: records seen twice change nothing. A record that
cannot be read is logged and skipped (the withdrawal then reads `pending`, which payment
systems treat as `hold`).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import RedisError

from withdrawguard.registry.apply import RegistryStore, apply_record
from withdrawguard.registry.projection import BadRecord

log = logging.getLogger(__name__)


class RegistryMetrics(Protocol):
    def registry_write(self, topic: str) -> None:
        """An output record of `topic` projected into the Redis hold registry."""

    def registry_retry(self) -> None:
        """A registry write that failed (Redis down or slow) and will be tried again."""


@dataclass(frozen=True, slots=True)
class Backoff:
    base: float = 0.1
    cap: float = 2.0

    def delay(self, attempt: int) -> float:
        ceiling = min(self.cap, self.base * 2.0 ** min(attempt, 30))
        return ceiling * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not secrecy


async def apply_until_done(
    store: RegistryStore,
    topic: str,
    message: Any,  # a faust Message: partition, offset, value
    metrics: RegistryMetrics,
    backoff: Backoff = Backoff(),
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> bool:
    """Write one record, retrying while Redis fails; False when it was skipped."""
    attempt = 0
    while True:
        try:
            changed = await apply_record(
                store, topic, message.partition, message.offset, message.value
            )
        except BadRecord as exc:
            log.error("registry skips %s[%s]@%s: %s", topic, message.partition, message.offset, exc)
            return False
        except (RedisError, OSError, TimeoutError) as exc:
            metrics.registry_retry()
            if attempt % 20 == 0:
                log.warning("registry write failed (attempt %d), retrying: %s", attempt + 1, exc)
            await sleep(backoff.delay(attempt))
            attempt += 1
            continue
        if attempt:
            log.info("registry write succeeded after %d retries", attempt)
        if changed:
            metrics.registry_write(topic)
        return True
