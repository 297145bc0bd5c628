"""In-memory fakes of the notifier's stores and channels, for unit tests only."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from withdrawguard.notify.channel import SendContext
from withdrawguard.notify.retry import DeliveryError


@dataclass
class MemoryDedup:
    """`SET NX EX` semantics without expiry (tests run inside one window)."""

    claims: dict[str, str] = field(default_factory=dict)

    async def claim(self, key: str, alert_id: str, ttl_seconds: int) -> bool:
        mine = f"pending:{alert_id}"
        if key not in self.claims:
            self.claims[key] = mine
            return True
        return self.claims[key] == mine

    async def complete(self, key: str, alert_id: str) -> None:
        if key in self.claims:
            self.claims[key] = f"done:{alert_id}"

    async def release(self, key: str, alert_id: str) -> None:
        if self.claims.get(key) == f"pending:{alert_id}":
            del self.claims[key]


@dataclass
class MemoryIncidents:
    incidents: dict[str, set[str]] = field(default_factory=dict)
    holds: dict[str, str] = field(default_factory=dict)

    async def link(self, incident: str, withdrawal_id: str) -> bool:
        self.incidents.setdefault(incident, set()).add(withdrawal_id)
        return self._settled(incident)

    async def settle(self, withdrawal_id: str, status: str) -> list[str]:
        self.holds[withdrawal_id] = status
        return sorted(
            i for i, wds in self.incidents.items() if withdrawal_id in wds and self._settled(i)
        )

    def _settled(self, incident: str) -> bool:
        return all(
            self.holds.get(w) in ("released", "confirmed_fraud") for w in self.incidents[incident]
        )


@dataclass
class RecordingChannel:
    """Records what it was asked to send; fails its first `failures` attempts."""

    name: str
    failures: int = 0
    delay: float = 0.0
    sent: list[tuple[dict[str, Any], SendContext]] = field(default_factory=list)
    attempts: int = 0

    async def send(self, alert: dict[str, Any], ctx: SendContext) -> None:
        self.attempts += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.attempts <= self.failures:
            raise DeliveryError("HTTP 503: try later")
        self.sent.append((alert, ctx))


@dataclass
class Counts:
    sent_: list[str] = field(default_factory=list)
    failed_: list[str] = field(default_factory=list)
    deduplicated_: list[str] = field(default_factory=list)

    def notification_sent(self, channel: str) -> None:
        self.sent_.append(channel)

    def notification_failed(self, channel: str) -> None:
        self.failed_.append(channel)

    def notification_deduplicated(self, channel: str) -> None:
        self.deduplicated_.append(channel)


def alert(
    customer_id: str = "C-100234",
    alert_id: str = "a-1",
    severity: str = "critical",
    codes: tuple[str, ...] = ("DEST_CHANGED_RECENTLY", "DRAIN"),
    withdrawal_id: str = "W-1",
) -> dict[str, Any]:
    """A fraud-alert payload in the contract's shape."""
    return {
        "alert_id": alert_id,
        "customer_id": customer_id,
        "severity": severity,
        "risk_score": 90,
        "rule_codes": list(codes),
        "summary": f"Withdrawal {withdrawal_id} of 9500000 JPY by customer {customer_id} to "
        "bank 0009 branch 222 acct ****4321 was held: destination set via web 10 min before.",
        "evidence": [
            {
                "event_id": "w",
                "type": "withdrawal",
                "withdrawal_id": withdrawal_id,
                "amount": "9500000",
                "currency": "JPY",
                "destination": "bank 0009 branch 222 acct ****4321",
            }
        ],
        "withdrawal_id": withdrawal_id,
        "created_at": "2024-05-01T00:25:00+00:00",
    }
