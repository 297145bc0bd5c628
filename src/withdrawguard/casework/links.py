"""The links of a case's customer, as the case page, `withdrawguard cases show` and the
export give them: the other customers sharing a destination, a source IP or a device
within the rules' windows, each with their current case (docs/cases.md, "Links").

`LinkReader.for_customer(customer_id, now)` reads the links projection
(`adapters.link_store`), computes the links (`cases.links.links_of`, pure) and joins each
other customer's current case from the case store. It reads Redis only, never a worker's
table partitions, so any worker (and the CLI) answers for any customer.

`rebuild_links` makes the projection again from the observation topics, as far back as
they still hold records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from withdrawguard.adapters.kafka_io import read_topic
from withdrawguard.cases.links import (
    Link,
    LinkWindows,
    Slot,
    Touch,
    Value,
    links_of,
    touches_of,
    with_cases,
)
from withdrawguard.cases.summary import Summary
from withdrawguard.contract import topics as t
from withdrawguard.contract import wire
from withdrawguard.engine.outputs import DestinationObservation, IpObservation
from withdrawguard.settings import Settings


class LinkSource(Protocol):
    async def seen_by(self, customer_id: str, since_ms: int) -> list[tuple[Value, list[Slot]]]: ...


class LinkSink(Protocol):
    async def record(self, touches: Sequence[Touch], windows: LinkWindows) -> None: ...
    async def clear(self) -> int: ...


class CurrentCases(Protocol):
    async def current_cases(self, customer_ids: Sequence[str]) -> dict[str, Summary]: ...


class LinkReader:
    def __init__(
        self, links: LinkSource, cases: CurrentCases, windows: Callable[[], LinkWindows]
    ) -> None:
        self._links, self._cases, self._windows = links, cases, windows

    async def for_customer(self, customer_id: str, now: datetime) -> list[Link]:
        """The customer's links at `now` (timezone-aware), the most recently seen first,
        each with the other customer's current case id and status (None: no case)."""
        windows = self._windows()
        now_ms = int(now.timestamp() * 1000)
        seen = await self._links.seen_by(customer_id, now_ms - windows.lookback)
        found = links_of(customer_id, now_ms, windows, seen)
        cases = await self._cases.current_cases(sorted({x.customer_id for x in found}))
        return with_cases(found, {c: (s.case_id, s.status) for c, s in cases.items()})


def touches_in(topic: str, value: bytes) -> list[Touch]:
    """The touches one record of an observation topic (logical name) carries; ValueError
    (or TypeError) when it is no observation record."""
    observations: list[DestinationObservation] | list[IpObservation]
    if topic == t.DESTINATION_OBSERVATIONS:
        observations = wire.decode_destination_observations(value)
    else:
        observations = wire.decode_ip_observations(value)
    touches = [touch for obs in observations for touch in touches_of(obs)]
    for x in touches:
        if not (type(x.ts) is int and isinstance(x.customer_id, str) and _text(x.value.key)):
            raise ValueError(f"an observation of {topic} is malformed: {x!r}")
    return touches


async def rebuild_links(
    settings: Settings, store: LinkSink, windows: LinkWindows
) -> tuple[int, int, int]:
    """Delete the projection and fold both observation topics in again, each partition in
    offset order up to its end when the read began: (keys deleted, records, skipped)."""
    deleted = await store.clear()
    names = t.TopicNames(settings)
    records = skipped = 0
    for logical in (t.DESTINATION_OBSERVATIONS, t.IP_OBSERVATIONS):
        async for value in read_topic(settings, names.name(logical)):
            try:
                touches = touches_in(logical, value)
            except (ValueError, TypeError):
                skipped += 1
                continue
            await store.record(touches, windows)
            records += 1
    return deleted, records, skipped


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value)
