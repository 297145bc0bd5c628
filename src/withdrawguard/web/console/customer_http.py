"""A customer's page and its actions (`GET /customers/{id}`, `POST /customers/{id}/actions`),
plain aiohttp handlers over the customer's state, so a test can serve them from a bare
aiohttp app (views: `views.py`, which has each request served by the worker that owns
the customer's partition, the one that holds its state).

An action is checked against the customer's state and sent as a case decision
(`actions.py`). A refusal answers with its status (400 a bad form, 403 the role, the
CSRF token or four eyes) and the customer's page again: the reason above it and at the
form it came from, the note as typed in that form. A caller that asks for JSON
(`access.wants_json`) gets `{"error": reason}` instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import quote

from aiohttp import web

from withdrawguard.cases.policy import CasePolicy
from withdrawguard.engine.state import CustomerState
from withdrawguard.web.console import pages
from withdrawguard.web.console.access import Access, Refused
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

Send = Callable[[str, dict[str, Any]], Awaitable[object]]
"""Sends a case decision (customer id, payload) to `case-decisions`."""
_NOW = partial(datetime.now, UTC)


@dataclass
class CustomerDesk:
    access: Access
    release_policy: CasePolicy
    """Which releases take four eyes: released here only below the threshold."""
    state_of: Callable[[str], CustomerState | None]
    """The customer's state as this worker's table holds it (None: no history)."""
    send: Send
    clock: Callable[[], datetime] = _NOW

    async def show(self, request: web.Request, customer_id: str) -> web.Response:
        session: Session = request["session"]
        flash = ""
        if (sent := request.query.get("sent")) in ACTIONS:
            flash = (
                f"Sent {ACTIONS[sent]} on case-decisions as {session.user}; "
                "the registry state below updates when the detector has applied it."
            )
        return html_response(self.page(session, customer_id, self.state_of(customer_id), flash))

    async def act(self, request: web.Request, customer_id: str) -> web.Response:
        state = self.state_of(customer_id) or CustomerState(customer_id)
        try:
            session, form = await self.access.acting(request)
            decision = self._decision(request, form, session, state)
        except Refused as no:
            return await self._again(no, state)
        await self.send(customer_id, decision)
        if form.get("back") == "/console":
            return see_other("/console")
        return see_other(f"/customers/{quote(customer_id, safe='')}?sent={decision['action']}")

    def page(
        self,
        session: Session,
        customer_id: str,
        state: CustomerState | None,
        flash: str = "",
        error: str = "",
        typed: Mapping[str, str] | None = None,
        refused_row: str = "",
    ) -> str:
        entries = timeline(state) if state is not None else []
        csrf = self.access.signer.csrf_token(session)
        big = {
            wid
            for wid, w in (state.withdrawals.items() if state is not None else ())
            if four_eyes(self.release_policy, w.amount, w.currency)
        }
        return pages.customer_page(
            customer_id, entries, session, csrf, flash, big, error, typed, refused_row
        )

    def _decision(
        self,
        request: web.Request,
        form: Mapping[str, Any],
        session: Session,
        state: CustomerState,
    ) -> dict[str, Any]:
        """The case decision the form asks for; Refused: 400 a bad form, 403 a release
        that takes four eyes (not even an admin releases it alone: it is proposed in the
        customer's case)."""
        try:
            decision = case_decision(form, session.user, state, self.clock())
        except ActionError as exc:
            raise Refused(request, 400, str(exc), form) from None
        two = release_refusal(self.release_policy, decision, state)
        if two is not None:
            raise Refused(request, 403, two, form)
        return decision

    async def _again(self, no: Refused, state: CustomerState) -> web.Response:
        """The customer's page again, the reason above it and at the form it came from,
        the note as typed (JSON if asked for)."""
        row = _field(no.form, "withdrawal_id") or _field(no.form, "change_event_id")
        note = _field(no.form, "note")
        typed = {row: note} if note else {}
        error = f"{no.status}: {no.reason}"

        def again(session: Session) -> str:
            return self.page(session, state.customer_id, state, "", error, typed, row)

        return await no.answer(again)


def _field(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""
