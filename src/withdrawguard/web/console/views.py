"""The console's pages: holds and alerts, a customer's timeline, and actions.

A customer's page is read from the detector's `customers` table on the worker that owns
the customer's partition: `app.table_route` forwards the request there. An action is
also handled by the owner (it checks the withdrawal or destination change against the
customer's state), so a POST that lands elsewhere is forwarded with its body.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson
from aiohttp import web
from faust.web import View
from yarl import URL

from withdrawguard.engine.state import CustomerState, decode_state
from withdrawguard.web.console import pages
from withdrawguard.web.console.access import Refused, deny
from withdrawguard.web.console.actions import (
    ACTIONS,
    ActionError,
    case_decision,
    four_eyes,
    release_refusal,
)
from withdrawguard.web.console.html import html_response, see_other
from withdrawguard.web.console.sessions import Session
from withdrawguard.web.console.timeline import timeline

if TYPE_CHECKING:
    from withdrawguard.web.console.wiring import Console

MAX_IDS = 200


def register(console: Console) -> None:
    app = console.app

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

    @app.page("/customers/{customer_id}")
    class Customer(View):
        @app.table_route(table=console.customers, match_info="customer_id")  # type: ignore[arg-type]
        async def get(self, request: web.Request, customer_id: str) -> web.Response:
            session = request["session"]
            state = _state(console, customer_id)
            flash = ""
            if (sent := request.query.get("sent")) in ACTIONS:
                flash = (
                    f"Sent {ACTIONS[sent]} on case-decisions as {session.user}; "
                    "the registry state below updates when the detector has applied it."
                )
            return _customer_page(console, session, customer_id, state, flash)

    @app.page("/customers/{customer_id}/actions")
    class Action(View):
        async def post(self, request: web.Request, customer_id: str) -> web.Response:
            # The owner checks the action against the customer's state, and refuses it
            # with the customer's page, which only the owner holds: forwarded unchecked.
            body = await request.read()
            elsewhere = await _forward_to_owner(console, request, customer_id, body)
            if elsewhere is not None:
                return elsewhere
            state = _state(console, customer_id) or CustomerState(customer_id)
            try:
                session, form = await console.access.acting(request)
                decision = _decision(console, request, form, session, state)
            except Refused as no:
                return await _refused(console, no, state)
            await console.case_decisions.send(
                key=customer_id.encode(), value=orjson.dumps(decision)
            )
            if form.get("back") == "/console":
                return see_other("/console")
            return see_other(f"/customers/{quote(customer_id, safe='')}?sent={decision['action']}")


def _decision(
    console: Console,
    request: web.Request,
    form: Mapping[str, Any],
    session: Session,
    state: CustomerState,
) -> dict[str, Any]:
    """The case decision the form asks for; Refused: 400 a bad form, 403 a release that
    takes four eyes (not even an admin releases it alone: it is proposed in the case)."""
    try:
        decision = case_decision(form, session.user, state, datetime.now(UTC))
    except ActionError as exc:
        raise Refused(request, 400, str(exc), form) from None
    two = release_refusal(console.release_policy, decision, state)
    if two is not None:
        raise Refused(request, 403, two, form)
    return decision


def _customer_page(
    console: Console,
    session: Session,
    customer_id: str,
    state: CustomerState | None,
    flash: str = "",
) -> web.Response:
    return html_response(_customer_html(console, session, customer_id, state, flash))


def _customer_html(
    console: Console,
    session: Session,
    customer_id: str,
    state: CustomerState | None,
    flash: str = "",
    error: str = "",
    typed: Mapping[str, str] | None = None,
    refused_row: str = "",
) -> str:
    entries = timeline(state) if state is not None else []
    csrf = console.access.signer.csrf_token(session)
    big = {
        wid
        for wid, w in (state.withdrawals.items() if state is not None else ())
        if four_eyes(console.release_policy, w.amount, w.currency)
    }
    return pages.customer_page(
        customer_id, entries, session, csrf, flash, big, error, typed, refused_row
    )


async def _refused(console: Console, no: Refused, state: CustomerState) -> web.Response:
    """The customer's page again, the reason above it and at the form it came from, with
    the note as typed (JSON if asked for)."""
    row = _field(no.form, "withdrawal_id") or _field(no.form, "change_event_id")
    note = _field(no.form, "note")
    typed = {row: note} if note else {}

    def page(session: Session) -> str:
        error = f"{no.status}: {no.reason}"
        return _customer_html(console, session, state.customer_id, state, "", error, typed, row)

    return await no.answer(page)


def _field(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


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
