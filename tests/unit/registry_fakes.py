"""An in-memory hold registry (unit tests only): the store protocol of
`withdrawguard.registry.apply` and the `hgetall` the clients call, sync and async."""

from __future__ import annotations

from dataclasses import dataclass, field

from withdrawguard.registry.apply import Change
from withdrawguard.registry.keys import RegistryKeys, registry_prefix
from withdrawguard.registry.projection import ALERTS_KEPT, AlertEntry


@dataclass
class MemoryRegistry:
    keys: RegistryKeys = field(default_factory=lambda: RegistryKeys(registry_prefix("test")))
    hashes: dict[str, dict[str, str]] = field(default_factory=dict)
    zsets: dict[str, dict[str, int]] = field(default_factory=dict)
    strings: dict[str, bytes] = field(default_factory=dict)

    async def update_withdrawal(self, withdrawal_id: str, change: Change) -> bool:
        key = self.keys.withdrawal(withdrawal_id)
        proj = change(dict(self.hashes.get(key, {})))
        if proj is None:
            return False
        self.hashes[key] = dict(proj.fields)
        self.hashes[self.keys.writer] = {"prefix": self.keys.prefix}
        for index in (self.keys.open_holds, self.keys.open_holds_of(proj.customer_id)):
            members = self.zsets.setdefault(index, {})
            if proj.open_since_ms is None:
                members.pop(withdrawal_id, None)
            else:
                members[withdrawal_id] = proj.open_since_ms
            if not members:
                del self.zsets[index]
        return True

    async def add_alert(self, entry: AlertEntry) -> None:
        members = self.zsets.setdefault(self.keys.alerts, {})
        members[entry.alert_id] = entry.created_ms
        ranked = sorted(members, key=lambda m: (members[m], m))
        for gone in ranked[: max(0, len(ranked) - ALERTS_KEPT)]:
            del members[gone]
            self.strings.pop(self.keys.alert(gone), None)
        if entry.alert_id in members:
            self.strings.setdefault(self.keys.alert(entry.alert_id), entry.json)

    async def withdrawal(self, withdrawal_id: str) -> dict[str, str]:
        return dict(self.hashes.get(self.keys.withdrawal(withdrawal_id), {}))

    def snapshot(self) -> tuple[object, ...]:
        return (
            {k: dict(v) for k, v in self.hashes.items()},
            {k: dict(v) for k, v in self.zsets.items()},
            dict(self.strings),
        )

    def sync_reader(self) -> SyncReader:
        return SyncReader(self)

    def async_reader(self) -> AsyncReader:
        return AsyncReader(self)


@dataclass
class SyncReader:
    registry: MemoryRegistry

    def hgetall(self, name: str) -> dict[bytes, bytes]:
        h = self.registry.hashes.get(name, {})
        return {k.encode(): v.encode() for k, v in h.items()}


@dataclass
class AsyncReader:
    registry: MemoryRegistry

    async def hgetall(self, name: str) -> dict[bytes, bytes]:
        return SyncReader(self.registry).hgetall(name)
