"""Customers' answers to the notices the detector sends (topic `customer-responses`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from withdrawguard.sim.scenarios import Message


def response(
    cid: str,
    response_id: str,
    at: datetime,
    notice_id: str,
    answer: str,
    *,
    contact_as_of: str | None = None,
    channel: str = "mail",
) -> Message:
    """`answer` (`confirm` or `deny`) to `notice_id`, through the contact registered at
    `contact_as_of` (the notice's own `contact_as_of`, as written) or, when None, the
    current one."""
    body: dict[str, Any] = {
        "type": "customer_response",
        "response_id": response_id,
        "customer_id": cid,
        "occurred_at": at.isoformat(),
        "notice_id": notice_id,
        "answer": answer,
        "contact": "current" if contact_as_of is None else "as_of",
        "channel": channel,
    }
    if contact_as_of is not None:
        body["contact_as_of"] = contact_as_of
    return "customer-responses", body
