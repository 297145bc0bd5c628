"""The case pages' handlers (`/cases...`), plain aiohttp handlers over the case
service, so a test can serve them from a bare aiohttp app (views: `case_views.py`).

Reads are open to every signed-in role. Actions are POSTed forms that carry the
session's CSRF token (`Access.acting`, as every console action) and the case version
the page showed. A refusal, the gate's (403 the token or the role, 400 an unreadable
form) or the domain's (403 who you are, 404 unknown, 400 what you asked, 409 changed
since, with what changed), answers with its status and the page again, with the reason
and the note as typed (`Refused.answer`: JSON to a caller that asks for it); nothing is
written. Done, the browser is sent (303) to the case's page, so a reload posts nothing
twice."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import orjson
from aiohttp import web
from redis.exceptions import RedisError

from withdrawguard.auth.users import User
from withdrawguard.cases.errors import CaseError
from withdrawguard.cases.links import Link
from withdrawguard.cases.people import Actor
from withdrawguard.casework.export import export_html, export_json
from withdrawguard.casework.service import CaseService
from withdrawguard.web.console import case_forms as forms
from withdrawguard.web.console.access import Access, Refused, deny
from withdrawguard.web.console.case_pages import (
    MINE,
    Message,
    case_context,
    inbox_context,
    rows_of,
    tabs_for,
)
from withdrawguard.web.console.html import html_response, see_other
from withdrawguard.web.console.sessions import Session
from withdrawguard.web.console.templating import render

LISTED = 200
"""Rows an inbox page lists (due first); a status filter picks among them."""
_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]")
_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)


class Gate(Protocol):
    """What the handlers need of the console: its access checks and its users."""

    @property
    def access(self) -> Access: ...

    def users(self) -> dict[str, User]: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class CaseDesk:
    gate: Gate
    service: CaseService
    clock: Callable[[], datetime] = _utc_now

    # ------------------------------------------------------------ pages

    async def inbox(self, request: web.Request) -> web.Response:
        done = request.query.get("done", "")
        return await self._inbox(request, request["session"], Message(flash=done[:200]))

    async def case(self, request: web.Request, case_id: str) -> web.Response:
        done = request.query.get("done", "")
        flash = f"Done: {done[:200]}." if done else ""
        return await self._case(request["session"], case_id, Message(flash=flash))

    async def of_customer(self, request: web.Request, customer_id: str) -> web.Response:
        """303 to the customer's current case; 404 when the customer has none."""
        case_id = await self.service.current_case_of(customer_id)
        if case_id is None:
            return deny(
                request, 404, f"customer {customer_id} has no case", request["session"].user
            )
        return see_other(f"/cases/{quote(case_id, safe='')}")

    async def export_json(self, request: web.Request, case_id: str) -> web.Response:
        try:
            case = await self.service.case(case_id)
            events = await self.service.events(case_id)
        except CaseError as exc:
            return deny(request, exc.status, exc.reason, request["session"].user)
        links = await self._links(case.customer_id) or ()
        body = orjson.dumps(export_json(case, events, links), option=orjson.OPT_INDENT_2)
        name = _SAFE_ID.sub("_", case_id)
        return web.Response(
            body=body + b"\n",
            content_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="{name}.json"'},
        )

    async def export_html(self, request: web.Request, case_id: str) -> web.Response:
        try:
            case = await self.service.case(case_id)
            events = await self.service.events(case_id)
        except CaseError as exc:
            return deny(request, exc.status, exc.reason, request["session"].user)
        page = export_html(case, events, await self._links(case.customer_id) or ())
        response = html_response(page)
        # The printable page has its own style sheet: allow exactly it, and nothing else.
        styles = " ".join(_sha256(s) for s in _STYLE.findall(page))
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; style-src {styles}; form-action 'none'; "
            "frame-ancestors 'none'; base-uri 'none'"
        )
        return response

    # ------------------------------------------------------------ actions

    async def take_next(self, request: web.Request) -> web.Response:
        try:
            session, form = await self.gate.access.acting(request)
        except Refused as no:
            return await self._inbox_again(no)
        actor, tab = self._actor(session), _text(form, "inbox")
        try:
            taken = await self.service.take_next(actor, None if tab in ("", MINE) else tab)
        except CaseError as exc:
            return await self._inbox_again(Refused(request, exc.status, exc.reason, form))
        if taken is None:
            nothing = Message(flash=f"Nothing to take in {tab or 'your inboxes'}.")
            return await self._inbox(request, session, nothing, tab)
        return see_other(f"{_case_url(taken.case_id)}?done=claimed")

    async def act(self, request: web.Request, case_id: str) -> web.Response:
        try:
            session, form = await self.gate.access.acting(request)
        except Refused as no:
            return await self._case_again(no, case_id)
        actor = self._actor(session)
        try:
            command = forms.command_from(
                form, case_id, self.service.new_command_id(), self._people(), self.clock()
            )
            done = await self.service.execute(actor, command)
        except CaseError as exc:
            return await self._case_again(Refused(request, exc.status, exc.reason, form), case_id)
        except RedisError as exc:
            return deny(request, 503, f"the case store is unavailable ({exc})"[:200], actor.user)
        kinds = ", ".join(e.kind.replace("_", " ") for e in done.events)
        return see_other(f"{_case_url(case_id)}?{urlencode({'done': kinds})}")

    async def bulk(self, request: web.Request) -> web.Response:
        """One action on each selected case, each under its own version: a case changed
        since the page was shown is refused (409) and left as it is; the others are done.
        The page says which were done and why each other was refused."""
        try:
            session, form = await self.gate.access.acting(request)
        except Refused as no:
            return await self._inbox_again(no)
        actor, tab = self._actor(session), _text(form, "inbox")
        try:
            bulk = forms.bulk_from(form, actor, self._people())
        except CaseError as exc:
            return await self._inbox_again(Refused(request, exc.status, exc.reason, form))
        done: list[str] = []
        refused: list[tuple[str, CaseError]] = []
        for case_id, seen in bulk.cases:
            command = forms.bulk_command(bulk, case_id, seen, self.service.new_command_id())
            try:
                await self.service.execute(actor, command)
                done.append(case_id)
            except CaseError as exc:
                refused.append((case_id, exc))
        what = "assigned to " + bulk.assignee.user if bulk.assignee else "closed"
        summary = f"{len(done)} case(s) {what}" + (f": {', '.join(done)}" if done else "")
        if not refused:
            query = urlencode({"inbox": tab or MINE, "done": summary + "."})
            return see_other(f"/cases?{query}")
        why = "; ".join(f"{cid}: {exc.status} {exc.reason}" for cid, exc in refused)
        message = Message(summary + ".", f"refused {why}", refused[0][1].status, _bulk_typed(form))
        return await self._inbox(request, session, message, tab)

    # ------------------------------------------------------------ rendering

    async def _inbox_again(self, no: Refused) -> web.Response:
        """The inbox page the refused form came from, with the reason and the note as
        typed (JSON if asked for)."""
        message = Message(error=no.reason, status=no.status, typed=_bulk_typed(no.form))

        async def page(session: Session) -> str:
            tab = _text(no.form, "inbox")
            return (await self._inbox_page(no.request, session, message, tab))[1]

        return await no.answer(page)

    async def _case_again(self, no: Refused, case_id: str) -> web.Response:
        """The case page the refused form came from, with the reason at the form and the
        note as typed (JSON if asked for)."""
        message = Message(error=no.reason, status=no.status, typed=forms.typed(no.form))

        async def page(session: Session) -> str:
            return (await self._case_page(session, case_id, message))[1]

        return await no.answer(page)

    async def _inbox(
        self, request: web.Request, session: Session, message: Message, tab: str | None = None
    ) -> web.Response:
        status, text = await self._inbox_page(request, session, message, tab)
        return html_response(text, status)

    async def _inbox_page(
        self, request: web.Request, session: Session, message: Message, tab: str | None
    ) -> tuple[int, str]:
        actor, book = self._actor(session), self.service.config.inboxes
        tabs = tabs_for(actor, book)
        tab = tab or request.query.get("inbox") or (tabs[0] if tabs else MINE)
        status = request.query.get("status") or None
        try:
            if tab == MINE:
                found = await self.service.mine(actor, LISTED)
            else:
                found = await self.service.listing(tab, LISTED)
        except CaseError as exc:
            message = _refused(exc) if not message.error else message
            return message.status, self._bare(session, "Cases", message)
        rows = rows_of(found, self.clock(), status)
        context = inbox_context(actor, book, tab, rows, status, self._people(), message)
        return message.status, self._render("inbox.html", session, **context)

    async def _case(self, session: Session, case_id: str, message: Message) -> web.Response:
        status, text = await self._case_page(session, case_id, message)
        return html_response(text, status)

    async def _case_page(self, session: Session, case_id: str, message: Message) -> tuple[int, str]:
        try:
            case = await self.service.case(case_id)
            events = await self.service.events(case_id)
        except CaseError as exc:
            message = _refused(exc) if not message.error else message
            return message.status, self._bare(session, "Case", message)
        actor = self._actor(session)
        context = case_context(case, events, actor, self.clock(), self._people(), message)
        context["links"] = await self._links(case.customer_id)
        return message.status, self._render("case.html", session, **context)

    async def _links(self, customer_id: str) -> list[Link] | None:
        """The customer's links now; None where this service keeps none (a test's)."""
        if not self.service.keeps_links:
            return None
        return await self.service.links_of(customer_id, self.clock())

    def _bare(self, session: Session, title: str, message: Message) -> str:
        """The page without its content (the case or inbox cannot be read): the reason,
        and a note typed into a refused form read-only, not lost."""
        unsent = message.typed.note
        return self._render("base.html", session, title=title, message=message, unsent=unsent)

    def _render(self, template: str, session: Session, /, **context: Any) -> str:
        csrf = self.gate.access.signer.csrf_token(session)
        return render(template, session=session, csrf=csrf, **context)

    @staticmethod
    def _actor(session: Session) -> Actor:
        try:
            return forms.actor_of(session.user, session.role)
        except CaseError:  # a role the users file does not know: read only
            return Actor(session.user, "viewer")

    def _people(self) -> dict[str, str]:
        return {name: user.role for name, user in self.gate.users().items()}


def _refused(exc: CaseError) -> Message:
    return Message(error=exc.reason, status=exc.status)


def _bulk_typed(form: Any) -> forms.Typed:
    return forms.Typed("bulk", "", _text(form, "note"))


def _case_url(case_id: str) -> str:
    return "/cases/" + quote(case_id, safe="")


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"
