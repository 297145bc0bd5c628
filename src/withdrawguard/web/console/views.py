"""The console's pages: holds and alerts, a customer's timeline, and actions.

A customer's page is read from the detector's `customers` table on the worker that owns
the customer's partition: `app.table_route` forwards the request there. An action is
also handled by the owner (it checks the withdrawal or destination change against the
customer's state, and a refusal shows the customer's page), so a POST that lands
elsewhere is forwarded with its body. The handlers: `customer_http.py`.
"""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web
from faust.web import View
from yarl import URL

from withdrawguard.engine.state import CustomerState, decode_state
from withdrawguard.web.console import pages
from withdrawguard.web.console.access import deny
from withdrawguard.web.console.actions import four_eyes
from withdrawguard.web.console.customer_http import CustomerDesk
from withdrawguard.web.console.html import html_response

if TYPE_CHECKING:
    from withdrawguard.web.console.wiring import Console

MAX_IDS = 200


def register(console: Console) -> None:
    app = console.app

    async def send(customer_id: str, decision: dict[str, Any]) -> object:
        return await console.case_decisions.send(
            key=customer_id.encode(), value=orjson.dumps(decision)
        )

    @app.page("/console")
    class Overview(View):
        async def get(self, request: web.Request) -> web.Response:
            session = request["session"]
            csrf = console.access.signer.csrf_token(session)
            return html_response(pages.overview_page(session, csrf))

    @app.page("/console/api/overview")
    class OverviewData(View):
        async def get(self, request: web.Request) -> web.Response:
            now_ms = int(time.time() * 1000)
            holds = [
                {
                    "withdrawal_id": h["withdrawal_id"],
                    "customer_id": h["customer_id"],
                    "amount": h["amount"],
                    "currency": h["currency"],
                    "destination": h["destination"],
                    "reasons": [r.get("code", "") for r in h["reasons"]],
                    "age_seconds": max(0, (now_ms - h["created_ms"]) // 1000),
                    "four_eyes": four_eyes(console.release_policy, h["amount"], h["currency"]),
                }
                for h in await console.registry.open_holds()
            ]
            alerts = [_alert(a) for a in await console.registry.recent_alerts()]
            return _json({"holds": holds, "alerts": alerts})

    @app.page("/console/api/withdrawals")
    class WithdrawalStates(View):
        async def get(self, request: web.Request) -> web.Response:
            ids = [i for i in request.query.get("ids", "").split(",") if i][:MAX_IDS]
            records = await console.registry.withdrawals(ids)
            keep = ("hold_status", "decision", "actor", "note", "updated_at")
            return _json(
                {i: {k: r[k] for k in keep} for i, r in zip(ids, records, strict=True) if r}
            )

    desk = CustomerDesk(console.access, console.release_policy, partial(_state, console), send)

    @app.page("/customers/{customer_id}")
    class Customer(View):
        @app.table_route(table=console.customers, match_info="customer_id")  # type: ignore[arg-type]
        async def get(self, request: web.Request, customer_id: str) -> web.Response:
            return await desk.show(request, customer_id)

    @app.page("/customers/{customer_id}/actions")
    class Action(View):
        async def post(self, request: web.Request, customer_id: str) -> web.Response:
            # The owner checks the action against the customer's state, and refuses it
            # with the customer's page, which only the owner holds: forwarded unchecked.
            body = await request.read()
            elsewhere = await _forward_to_owner(console, request, customer_id, body)
            if elsewhere is not None:
                return elsewhere
            return await desk.act(request, customer_id)


def _state(console: Console, customer_id: str) -> CustomerState | None:
    raw = console.customers.get(customer_id.encode())
    return decode_state(raw) if raw is not None else None


async def _forward_to_owner(
    console: Console, request: web.Request, customer_id: str, body: bytes
) -> web.Response | None:
    """The owner's answer when another worker owns the customer; None when this one does."""
    try:
        owner: URL = console.app.router.key_store(console.customers.name, customer_id.encode())
    except KeyError:
        return deny(request, 503, "the customer's partition is not assigned yet")
    me = URL(str(console.app.conf.canonical_url))
    if (owner.host, owner.port) == (me.host, me.port):
        return None
    url = request.url.with_host(owner.host or "").with_port(owner.port)
    passed_on = ("cookie", "content-type", "accept")  # Accept: JSON or the page, if refused
    headers = {k: v for k, v in request.headers.items() if k.lower() in passed_on}
    async with console.app.http_client.post(
        url, data=body, headers=headers, allow_redirects=False
    ) as resp:
        passed = {k: v for k in ("Location", "Content-Type") if (v := resp.headers.get(k))}
        return web.Response(body=await resp.read(), status=resp.status, headers=passed)


def _alert(a: dict[str, Any]) -> dict[str, Any]:
    return {
        "alert_id": a.get("alert_id", ""),
        "severity": a.get("severity", ""),
        "created_at": a.get("created_at", ""),
        "customer_id": a.get("customer_id", ""),
        "withdrawal_id": a.get("withdrawal_id"),
        "rule_codes": a.get("rule_codes", []),
        "summary": a.get("summary", ""),
    }


def _json(body: Any) -> web.Response:
    return web.Response(
        body=orjson.dumps(body),
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )
