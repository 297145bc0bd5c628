"""Generic webhook: the alert as JSON, POSTed with an HMAC-SHA256 signature header.

Body: `{"type": "fraud_alert", "delivery_id", "incident_key", "alert": <fraud-alert
payload>, "message": {"title", "text", "link"}}`; a digest has `"type": "digest"` and
`"alerts": [...]` instead of `"alert"`; a case event (docs/cases.md) has `"type":
"case_event"`, `"event"` (the `case-events` payload) and `"case"` (customer_id, inbox,
status) instead. Headers: `X-Withdrawguard-Signature` (see
`withdrawguard.notify.signing` for verification) and `X-Withdrawguard-Delivery` (the same
on every retry: receivers can drop repeats).
"""

from __future__ import annotations

from typing import Any

import orjson

from withdrawguard.adapters.notify.http import HttpClient
from withdrawguard.notify.channel import SendContext
from withdrawguard.notify.config import Secret
from withdrawguard.notify.signing import HEADER, sign

DELIVERY_HEADER = "X-Withdrawguard-Delivery"


def webhook_body(alert: dict[str, Any], ctx: SendContext) -> bytes:
    m = ctx.message
    if ctx.action == "case_event":
        return orjson.dumps(
            {
                "type": "case_event",
                "delivery_id": ctx.delivery_id,
                "event": alert["event"],
                "case": alert["case"],
                "message": {"title": m.title, "text": m.text(), "link": m.link},
            }
        )
    body: dict[str, Any] = {
        "type": "digest" if ctx.action == "digest" else "fraud_alert",
        "delivery_id": ctx.delivery_id,
        "incident_key": ctx.incident,
        "message": {"title": m.title, "text": m.text(), "link": m.link},
    }
    if ctx.action == "digest":
        body["alerts"] = alert.get("alerts", [])
    else:
        body["alert"] = alert
    return orjson.dumps(body)


class WebhookChannel:
    def __init__(self, name: str, url: str, secret: Secret, http: HttpClient) -> None:
        self.name = name
        self._url = url
        self._secret = secret
        self._http = http

    async def send(self, alert: dict[str, Any], ctx: SendContext) -> None:
        body = webhook_body(alert, ctx)
        headers = {
            "Content-Type": "application/json",
            HEADER: sign(self._secret.reveal(), body, ctx.now),
            DELIVERY_HEADER: ctx.delivery_id,
        }
        await self._http.post(self._url, body, headers)
