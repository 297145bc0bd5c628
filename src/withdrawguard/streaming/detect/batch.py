"""What one batch of one agent carries: its decoded events, the table writes and output
records it makes, and the observations it passes to the cross-customer stages."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from faust.types import TableT

from withdrawguard.engine.events import CustomerEvent
from withdrawguard.engine.outputs import (
    DestinationObservation,
    DeviceObservation,
    IpObservation,
    Outcome,
)
from withdrawguard.engine.state import CustomerState
from withdrawguard.streaming.detect.writes import Outbox, TableWrites, Unstored

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


@dataclass
class Item:
    """One decoded customer event of a batch."""

    event: Any  # the faust Event it came in
    position: int
    """Its place in the batch."""
    key: bytes
    ev: CustomerEvent
    arrived: float


class Applied(list[tuple[Item, Outcome]]):
    """The outcomes of a group's events, and the state they were applied to."""

    def __init__(self, state: CustomerState) -> None:
        super().__init__()
        self.state = state


Observed = tuple[int, Any, Any]
"""(position in the batch, the faust Event it came in, the observation)."""


@dataclass
class Batch:
    """What one batch of one agent writes and sends."""

    tables: Mapping[str, TableT[bytes, bytes]]
    """The tables the agent may write, by name; a table's writes are made on first use."""
    unstored: dict[str, Unstored] = field(default_factory=dict)
    """Per table, values sent and not yet stored (shared by the pipeline's batches)."""
    outbox: Outbox = field(default_factory=Outbox)
    ips: list[tuple[int, IpObservation]] = field(default_factory=list)
    destinations: list[tuple[int, DestinationObservation]] = field(default_factory=list)
    devices: list[tuple[int, DeviceObservation]] = field(default_factory=list)
    """Observations with the position of the event that made them."""
    timed: list[tuple[float, float]] = field(default_factory=list)
    """(occurred_at, arrived) of each event that produced verdicts."""
    written: dict[str, TableWrites] = field(default_factory=dict)

    def writes(self, table: str) -> TableWrites:
        """The batch's writes to `table`, made on first use (each agent writes one)."""
        found = self.written.get(table)
        if found is None:
            shared = self.unstored.setdefault(table, Unstored())
            found = self.written[table] = TableWrites(self.tables[table], shared)
        return found


def grouped(items: Iterable[T], key: Callable[[T], K]) -> dict[K, list[T]]:
    """Items grouped by `key`, groups in order of first appearance, items in arrival
    order within each group."""
    groups: dict[K, list[T]] = {}
    for item in items:
        k = key(item)
        group = groups.get(k)
        if group is None:
            groups[k] = [item]
        else:
            group.append(item)
    return groups


class Waits:
    """What each agent awaits now and since when (monotonic seconds): said when the worker
    is found wedged (`streaming/guards/liveness.py`), where a task dump cannot look
    inside an agent's async generator."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._waits: dict[str, tuple[str, float]] = {}

    def begin(self, agent: str, what: str) -> None:
        self._waits[agent] = (what, self._clock())

    def end(self, agent: str) -> None:
        self._waits.pop(agent, None)

    def describe(self) -> str:
        now = self._clock()
        lines = [
            f"  agent {a}: {what} for {now - since:.0f} s"
            for a, (what, since) in sorted(self._waits.items())
        ]
        return "\n".join(lines) or "  (no agent awaits anything)"
