"""The notifier's backlog: how many alerts it holds in memory, with a bound.

An alert enters when the notify sink hands it over and leaves when every channel is done
with it (delivered, a duplicate, in a delivered digest, or dead-lettered); a hold update
that resolves PagerDuty incidents counts the same way. While a channel fails, its alerts
stay: retried by the channel's workers, queued behind them, or held for a digest. The
bound is what keeps that from growing with the outage: once `limit` alerts are in, the
feed stops reading its topic (`sink.SinkConsumer` pauses its partitions) and the alerts
after them wait in Kafka, uncommitted, instead of in RAM. A worker that dies or is
stopped meanwhile loses nothing: the next one reads them from the committed offset.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Backlog:
    def __init__(self, limit: int, report: Callable[[int], None] | None = None) -> None:
        if limit < 1:
            raise ValueError(f"a backlog limit must be at least 1, got {limit}")
        self.limit = limit
        self.size = 0
        self._report = report or (lambda _n: None)
        self._room = asyncio.Event()

    def full(self) -> bool:
        return self.size >= self.limit

    async def enter(self) -> Callable[[], None]:
        """Take a place, waiting for one when full; returns the call that gives it back
        (once: calling it again does nothing)."""
        while self.full():
            self._room.clear()
            await self._room.wait()
        self.size += 1
        self._report(self.size)
        left = False

        def leave() -> None:
            nonlocal left
            if not left:
                left = True
                self.size -= 1
                self._report(self.size)
                self._room.set()

        return leave
