"""Telling a stalled partition from a busy one (no Faust or Kafka import: plain data in,
a list of partitions out).

A partition is stalled when it has messages to process (its log end is past the offset
the worker committed) and that offset has not moved for `after` seconds. A partition
that is merely busy moves; one that is caught up has nothing to move. faust-streaming
has open reports of a worker that, after a rebalance, stops fetching some of its
partitions with no error (#629; the recovery stalls #176, #596); the fault suite saw it
once after a takeover. `withdrawguard.streaming.guards.stall_guard` acts on what this finds.

During a table restore committed offsets stand still on purpose, so there the question is
another one (`silent_changelogs`): which changelog partitions the restore still needs have
delivered nothing for a while. `withdrawguard.streaming.guards.recovery_guard` acts on that.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass
class StallWatch(Generic[K]):
    after: float
    _unmoved: dict[K, tuple[int, float]] = field(default_factory=dict)  # offset, since

    def observe(self, now: float, done: Mapping[K, int], ends: Mapping[K, int]) -> list[K]:
        """Partitions behind their log end whose committed offset (`done`) has not moved
        for `after` seconds, as of `now`. Partitions absent from `done` are forgotten."""
        stalled: list[K] = []
        for key, offset in done.items():
            end = ends.get(key)
            if end is None or offset >= end:
                self._unmoved.pop(key, None)  # caught up, or unknown: nothing to wait for
                continue
            seen = self._unmoved.get(key)
            if seen is None or seen[0] != offset:
                self._unmoved[key] = (offset, now)
            elif now - seen[1] >= self.after:
                stalled.append(key)
        for key in set(self._unmoved) - set(done):
            del self._unmoved[key]
        return stalled

    def reset(self, keys: list[K] | None = None) -> None:
        """Start counting again (all partitions, or `keys`): after a rebalance or a kick."""
        if keys is None:
            self._unmoved.clear()
        for key in keys or ():
            self._unmoved.pop(key, None)


def silent_changelogs(
    now: float,
    started: float,
    received: Mapping[K, float],
    offsets: Mapping[K, int],
    highwaters: Mapping[K, int],
    after: float,
) -> list[K]:
    """Changelog partitions a table restore that began at `started` still needs (read
    offset below the highwater it must reach) from which nothing has come for `after`
    seconds as of `now`: since their last record (`received`), or since the start when
    none came at all."""
    silent: list[K] = []
    for key, high in highwaters.items():
        if offsets.get(key, -1) >= high:
            continue  # restored (or nothing to restore)
        last = max(received.get(key, started), started)
        if now - last >= after:
            silent.append(key)
    return silent


@dataclass
class ProgressWatch(Generic[K]):
    """Whether a worker has stopped committing altogether: it holds input to process (some
    partition behind its log end) and none of its committed offsets has moved, nor its
    table restore read anything, for `after` seconds.

    Not `StallWatch`: one partition standing still while the others move is a stall the
    stall guard can resume; every partition standing still is a worker that is wedged
    (its agents await something that never comes), which only a restart ends."""

    after: float
    gap: float = 30.0
    """A look more than this long after the previous one starts the clock again: the
    broker could not be asked meanwhile (an outage of its own), and what the worker did
    then is not known."""
    _offsets: dict[K, int] = field(default_factory=dict)
    _restored: int = -1
    _since: float | None = None
    """When the worker last made progress or had nothing to do; None before any look."""
    _seen: float | None = None

    def observe(
        self, now: float, done: Mapping[K, int], ends: Mapping[K, int], restored: int = 0
    ) -> float | None:
        """Look at one round of committed offsets (`done`), log ends (`ends`) and the
        count of changelog records restored so far; the seconds since the last progress
        when they are `after` or more while input waits, else None."""
        behind = any(offset < ends.get(key, offset) for key, offset in done.items())
        moved = restored != self._restored or any(
            self._offsets.get(key) != offset for key, offset in done.items()
        )
        self._offsets, self._restored = dict(done), restored
        unknown = self._seen is None or now - self._seen > self.gap
        self._seen = now
        if self._since is None or unknown or moved or not behind:
            self._since = now
            return None
        idle = now - self._since
        return idle if idle >= self.after else None
