"""Feeding one output record into a registry store (Redis, or a fake in unit tests)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from withdrawguard.registry.projection import (
    ALERTS,
    AlertEntry,
    Position,
    Projection,
    alert_entry,
    decode,
    project,
    withdrawal_id_of,
)

Change = Callable[[Mapping[str, str]], Projection | None]


class RegistryStore(Protocol):
    """Where the registry lives. Each update is atomic per withdrawal."""

    async def update_withdrawal(self, withdrawal_id: str, change: Change) -> bool:
        """Apply `change` to the withdrawal's hash and indexes as one atomic step,
        computing it again if a concurrent writer got there first. False when `change`
        returned None (nothing to do)."""

    async def add_alert(self, entry: AlertEntry) -> None:
        """Index an alert and store its JSON (idempotent; keeps the newest 1000)."""

    async def withdrawal(self, withdrawal_id: str) -> dict[str, str]:
        """The withdrawal's hash; empty when unknown."""


async def apply_record(
    store: RegistryStore, topic: str, partition: int, offset: int, value: bytes | None
) -> bool:
    """Project the record at `partition`/`offset` of `topic` (a logical name). True when
    it changed the registry. Raises `BadRecord` for a record it cannot read."""
    payload = decode(value)
    if topic == ALERTS:
        await store.add_alert(alert_entry(payload, value or b""))
        return True
    pos = Position(partition, offset)
    return await store.update_withdrawal(
        withdrawal_id_of(payload), lambda current: project(topic, pos, payload, current)
    )
