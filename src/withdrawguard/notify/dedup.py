"""De-duplication: the same customer and rule codes notify a channel once per window.

The claim lives in Redis (`SET key pending:<alert id> NX EX window`), so every worker
agrees. Its value says how far delivery got:

- `pending:<alert id>`: claimed, delivery under way. The same alert seen again (Kafka
  redelivered it after a crash before it was acknowledged) may claim it again, so a
  crash can cause a repeat but never a loss. A different alert is a duplicate.
- `done:<alert id>`: delivered; everything until the window ends is a duplicate.
- on a final failure the claim is released, so the next alert tries the channel again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol


def incident_key(customer_id: str, rule_codes: Sequence[str]) -> str:
    """sha256 over the customer and the sorted rule codes: one key per customer and rules.
    It is also the PagerDuty dedup_key."""
    text = customer_id + "\0" + ",".join(sorted(set(rule_codes)))
    return hashlib.sha256(text.encode()).hexdigest()


def claim_key(prefix: str, channel: str, incident: str) -> str:
    return f"{prefix}:dedup:{channel}:{incident}"


class DedupStore(Protocol):
    async def claim(self, key: str, alert_id: str, ttl_seconds: int) -> bool:
        """True when this alert may notify: a fresh claim, or its own unfinished one."""
        ...

    async def complete(self, key: str, alert_id: str) -> None:
        """Mark the claim delivered (keeps its expiry)."""
        ...

    async def release(self, key: str, alert_id: str) -> None:
        """Drop the claim if it is still this alert's (delivery failed for good)."""
        ...


class IncidentStore(Protocol):
    """Which withdrawals' holds a PagerDuty incident waits for (kept in Redis)."""

    async def link(self, incident: str, withdrawal_id: str) -> bool:
        """Record that `incident` covers this withdrawal; True when all its holds are
        already settled (the hold update came first)."""
        ...

    async def settle(self, withdrawal_id: str, status: str) -> list[str]:
        """Record a hold's status; the incidents whose every hold is now settled."""
        ...
