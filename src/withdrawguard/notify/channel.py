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
    def sent(self, channel: str) -> None: ...

    def failed(self, channel: str) -> None: ...

    def deduplicated(self, channel: str) -> None: ...


class NoMetrics:
    """The default: count nothing."""

    def sent(self, channel: str) -> None:
        pass

    def failed(self, channel: str) -> None:
        pass

    def deduplicated(self, channel: str) -> None:
        pass
