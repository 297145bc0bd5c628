"""The interfaces every notification channel and the notifier's metrics implement."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from withdrawguard.notify.render import Message


@dataclass(frozen=True, slots=True)
class SendContext:
    message: Message
    """The rendered message (alert or digest)."""
    action: str
    """`trigger` (an alert), `digest` (alerts a rate limit held back) or `resolve`
    (PagerDuty only: every hold of the incident is settled)."""
    incident: str
    """sha256 of customer id and rule codes: the dedup key (PagerDuty's dedup_key)."""
    delivery_id: str
    """Stable across retries and redeliveries: receivers may de-duplicate on it."""
    now: float
    """Unix seconds when this attempt started (webhook signatures)."""


class Channel(Protocol):
    """One destination of notifications. `send` raises `DeliveryError` on failure
    (`PermanentError` when retrying cannot help); any other exception counts as one too."""

    name: str

    async def send(self, alert: dict[str, Any], ctx: SendContext) -> None: ...


class NotifyMetrics(Protocol):
    """What the notifier counts (the worker's metrics have these calls; none: no counts)."""

    def notification_sent(self, channel: str) -> None:
        """A notification delivered on `channel`."""

    def notification_failed(self, channel: str) -> None:
        """A notification that failed after its last retry (it went to dead-letters)."""

    def notification_deduplicated(self, channel: str) -> None:
        """A notification not sent because the same one went out within the window."""
