"""PagerDuty Events API v2: trigger with a dedup key per customer and rule codes, and
resolve when every hold of the incident's alerts is released or confirmed.

The routing key is the channel's secret. The dedup key is `incident_key(customer_id,
rule_codes)`, so PagerDuty itself folds repeated alerts into one incident; which
withdrawals an incident waits for is kept in Redis (`RedisIncidents`)."""

from __future__ import annotations

from typing import Any

import orjson

from withdrawguard.adapters.notify.http import HttpClient
from withdrawguard.notify.channel import SendContext
from withdrawguard.notify.config import Secret

_SEVERITY = {"critical": "critical", "high": "error", "medium": "warning", "low": "info"}


def pagerduty_event(routing_key: str, alert: dict[str, Any], ctx: SendContext) -> dict[str, Any]:
    """The Events API v2 body for `ctx.action` (trigger, digest or resolve)."""
    if ctx.action == "resolve":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": ctx.incident}
    m = ctx.message
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": ctx.incident,
        "payload": {
            "summary": m.title[:1024],
            "source": "withdrawguard",
            "severity": _SEVERITY.get(m.severity, "critical"),
            "component": "withdrawal-detector",
            "group": str(alert.get("customer_id", "")) or None,
            "class": ",".join(alert.get("rule_codes", [])) or ctx.action,
            "custom_details": {
                "what": m.headline,
                **dict(m.fields),
                "why": [f"{words} ({code})" for code, words in m.reasons],
                "alert_id": alert.get("alert_id"),
            },
        },
    }
    if m.link:
        event["links"] = [{"href": m.link, "text": "Customer in the console"}]
    return event


class PagerDutyChannel:
    def __init__(self, name: str, url: str, routing_key: Secret, http: HttpClient) -> None:
        self.name = name
        self._url = url
        self._key = routing_key
        self._http = http

    async def send(self, alert: dict[str, Any], ctx: SendContext) -> None:
        body = orjson.dumps(pagerduty_event(self._key.reveal(), alert, ctx))
        await self._http.post(self._url, body, {"Content-Type": "application/json"})
