"""A refused form post on the case pages and on a customer's page answers a browser with
that page again (the refusal's status, the reason, what was typed kept), a caller that
asks for JSON with `{"error": reason}`, and is logged once; every note field carries the
server's limit as `maxlength`. The case handlers are served as in test_console_cases.py;
the customer's, from `customer_http.CustomerDesk` over an in-memory state."""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from html import escape
from typing import Any

import markupsafe
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.unit.test_console_cases import PEOPLE, SIGNER, Gate, _events, _open, _served
from withdrawguard.cases.errors import MAX_NOTE as CASE_NOTE
from withdrawguard.cases.policy import CasePolicy
from withdrawguard.engine.fields import MAX_TEXT
from withdrawguard.engine.state import CustomerState, WithdrawalRec
from withdrawguard.web.console.actions import MAX_NOTE as DECISION_NOTE
from withdrawguard.web.console.customer_http import CustomerDesk
from withdrawguard.web.console.sessions import COOKIE

# The console's gate keeps the session under a string key of the request (see
# test_console_cases.py).
pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
JSON = "application/json"
TYPED = 'called back <b>"twice"</b>'
IN_TEMPLATE = str(markupsafe.escape(TYPED))  # as Jinja2 escapes it (" as &#34;)
CSRF_REASON = "missing or wrong CSRF token"
VIEWER_REASON = "the viewer role cannot do this (it needs analyst)"
REFUSED = pytest.mark.parametrize(
    ("user", "csrf", "reason"),
    [("ana", "0" * 64, CSRF_REASON), ("ana", None, CSRF_REASON), ("vic", "", VIEWER_REASON)],
    ids=["wrong-token", "no-token", "viewer"],
)
"""Who posts with which token (None: none), and why it is refused."""


async def _post(
    client: TestClient[Any, Any],
    user: str,
    path: str,
    form: dict[str, str],
    csrf: str | None = "",
    accept: str = BROWSER,
) -> tuple[int, str, str]:
    """POST `form` as `user`: with the session's CSRF token (`csrf=""`), another, or none."""
    session, cookie = SIGNER.issue(user, PEOPLE[user], time.time())
    fields = dict(form)
    if csrf is not None:
        fields["csrf"] = csrf or SIGNER.csrf_token(session)
    headers = {"Cookie": f"{COOKIE}={cookie}", "Accept": accept}
    async with client.post(path, data=fields, headers=headers, allow_redirects=False) as resp:
        return resp.status, resp.content_type, await resp.text()


@pytest.fixture
def denials(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """The console's refusals logged so far."""
    caplog.set_level(logging.WARNING, "withdrawguard.console.access")

    def logged() -> list[str]:
        said = (r.getMessage() for r in caplog.records)
        return [m for m in said if m.startswith("console: denied")]

    return logged


# ---------------------------------------------------------------- the case page


@REFUSED
async def test_a_refused_case_action_shows_the_case_page_with_the_reason_and_the_note(
    user: str, csrf: str | None, reason: str, denials: Callable[[], list[str]]
) -> None:
    async with _served() as c:
        case_id = await _open(c)
        form = {"action": "comment", "seen": "1", "note": TYPED}
        status, kind, page = await _post(c.client, user, f"/cases/{case_id}/act", form, csrf)
        assert (status, kind) == (403, "text/html")
        assert f'id="error" data-status="403">403: {escape(reason)}</p>' in page
        assert f"Case {case_id}" in page and "hold-w1" in page  # the case page itself
        note = IN_TEMPLATE
        if user == "vic":  # a viewer is shown no form: the note read-only, to copy
            assert "<form class=" not in page
            assert f'<textarea id="unsent" rows="3" readonly>{escape(TYPED)}</textarea>' in page
        else:  # in the comment form it came from, the reason at it, focused
            comment = page[page.index('data-action="comment"') :]
            comment = comment[: comment.index("</form>")]
            assert f"403: {escape(reason)}</div>" in comment
            assert re.search(rf"<textarea [^>]*autofocus>{re.escape(note)}</textarea>", comment)
            assert 'id="unsent"' not in page
        assert [e["kind"] for e in _events(c)] == ["opened"]  # nothing written
        assert len(denials()) == 1 and reason in denials()[0]


@pytest.mark.parametrize(("user", "csrf"), [("ana", None), ("vic", "")])
async def test_a_caller_that_asks_for_json_gets_a_refused_case_action_as_json(
    user: str, csrf: str | None, denials: Callable[[], list[str]]
) -> None:
    async with _served() as c:
        case_id = await _open(c)
        form = {"action": "comment", "seen": "1", "note": TYPED}
        status, kind, body = await _post(c.client, user, f"/cases/{case_id}/act", form, csrf, JSON)
        why = CSRF_REASON if csrf is None else VIEWER_REASON
        assert (status, kind, orjson.loads(body)) == (403, JSON, {"error": why})
        # the domain's refusals too: a page older than the case is 409, as JSON
        form["seen"] = "7"
        status, kind, body = await _post(c.client, "ana", f"/cases/{case_id}/act", form, "", JSON)
        assert (status, kind) == (409, JSON)
        assert "changed since you saw version 7" in orjson.loads(body)["error"]
        assert len(denials()) == 2


async def test_a_release_refused_409_after_its_form_is_gone_keeps_the_note_read_only() -> None:
    async with _served() as c:
        case_id = await _open(c)
        act = f"/cases/{case_id}/act"
        release = {"action": "release", "key": "hold-w1", "hold_id": "hold-w1", "seen": "1"}
        status, _, _ = await _post(c.client, "sue", act, release | {"note": "proposed"})
        assert status == 303  # proposed: the hold's release form is gone from the page
        status, _, page = await _post(c.client, "bob", act, release | {"note": TYPED})
        assert status == 409 and "changed since you saw version 1" in page
        assert 'data-action="release"' not in page
        assert f'<textarea id="unsent" rows="3" readonly>{escape(TYPED)}</textarea>' in page


async def test_a_refused_take_next_and_bulk_show_the_inbox_with_the_bulk_note_kept() -> None:
    async with _served() as c:
        await _open(c)
        take = {"inbox": "large-withdrawals"}
        status, kind, page = await _post(c.client, "ana", "/cases/next", take, None)
        assert (status, kind) == (403, "text/html") and 'id="take-next"' in page
        form = {"op": "close", "outcome": "false_positive", "case": "x@1", "note": TYPED}
        status, _, page = await _post(c.client, "ana", "/cases/bulk", form, "0" * 64)
        assert status == 403 and CSRF_REASON in page
        kept = rf"<textarea [^>]*autofocus>{re.escape(IN_TEMPLATE)}</textarea>"
        assert re.search(kept, page)


async def test_every_note_field_of_the_case_pages_carries_the_domains_limit() -> None:
    async with _served() as c:
        case_id = await _open(c)
        cookie = SIGNER.issue("sue", "supervisor", time.time())[1]
        for path in (f"/cases/{case_id}", "/cases?inbox=large-withdrawals"):
            async with c.client.get(path, headers={"Cookie": f"{COOKIE}={cookie}"}) as r:
                page = await r.text()
            fields = re.findall(r"<textarea name=\"note\"[^>]*>", page)
            assert fields and all(f'maxlength="{CASE_NOTE}"' in f for f in fields), path
            typed_in = re.findall(r'<input (?![^>]*type="(?:hidden|checkbox)")[^>]*>', page)
            assert all("datetime-local" in i for i in typed_in), typed_in  # no other text


# ---------------------------------------------------------------- a customer's page

POLICY = CasePolicy(four_eyes_release_at={"JPY": Decimal(1_000_000)})


def _customer() -> CustomerState:
    state = CustomerState("C1")
    for wid, amount in (("W1", "50000"), ("W2", "9500000")):
        state.withdrawals[wid] = WithdrawalRec(
            f"e-{wid}", 1_000, amount, "JPY", "0005//1234567", "web", None, None, None, None,
            decision="hold", hold="held",
        )  # fmt: skip
    return state


@dataclass
class Customers:
    client: TestClient[Any, Any]
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@contextlib.asynccontextmanager
async def _customers() -> AsyncIterator[Customers]:
    gate = Gate()
    sent: list[tuple[str, dict[str, Any]]] = []

    async def send(customer_id: str, decision: dict[str, Any]) -> None:
        sent.append((customer_id, decision))

    states = {"C1": _customer()}
    desk = CustomerDesk(gate.access, POLICY, states.get, send)

    async def act(request: web.Request) -> web.Response:
        return await desk.act(request, request.match_info["customer_id"])

    async def show(request: web.Request) -> web.Response:
        return await desk.show(request, request.match_info["customer_id"])

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        return await gate.access.middleware(request, handler)

    app = web.Application(middlewares=[guard])
    app.router.add_get("/customers/{customer_id}", show)
    app.router.add_post("/customers/{customer_id}/actions", act)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Customers(client, sent)
    finally:
        await client.close()


def _form_of(page: str, wid: str) -> str:
    at = page.index(f'name="withdrawal_id" value="{wid}"')
    start = page.rindex("<form", 0, at)
    return page[start : page.index("</form>", at)]


@REFUSED
async def test_a_refused_customer_action_shows_the_customer_page_with_the_reason_and_the_note(
    user: str, csrf: str | None, reason: str, denials: Callable[[], list[str]]
) -> None:
    async with _customers() as c:
        form = {"action": "release", "withdrawal_id": "W1", "note": TYPED}
        status, kind, page = await _post(c.client, user, "/customers/C1/actions", form, csrf)
        assert (status, kind) == (403, "text/html")
        assert f'<p class="flash error" id="error">403: {escape(reason)}</p>' in page
        assert "Customer C1" in page and "withdrawal W2" in page  # the customer's page
        note = escape(TYPED, quote=True)
        if user == "vic":
            assert 'class="act"' not in page
            assert f'<textarea id="unsent" rows="3" readonly>{escape(TYPED)}</textarea>' in page
        else:
            kept = _form_of(page, "W1")
            assert f"403: {escape(reason)}</div>" in kept
            assert f'value="{note}" autofocus>' in kept
            assert 'value="">' in _form_of(page, "W2")  # only in the form it came from
        assert c.sent == []
        assert len(denials()) == 1


async def test_a_caller_that_asks_for_json_gets_a_refused_customer_action_as_json() -> None:
    async with _customers() as c:
        form = {"action": "release", "withdrawal_id": "W1", "note": TYPED}
        got = await _post(c.client, "ana", "/customers/C1/actions", form, None, JSON)
        assert (got[0], got[1], orjson.loads(got[2])) == (403, JSON, {"error": CSRF_REASON})
        got = await _post(c.client, "vic", "/customers/C1/actions", form, "", JSON)
        assert (got[0], orjson.loads(got[2])) == (403, {"error": VIEWER_REASON})
        got = await _post(c.client, "ana", "/customers/C1/actions", form | {"note": ""}, "", JSON)
        assert (got[0], orjson.loads(got[2])) == (400, {"error": "a note is required"})
        assert c.sent == []


async def test_a_customer_action_refused_by_four_eyes_or_a_long_note_keeps_the_note() -> None:
    async with _customers() as c:
        big = {"action": "release", "withdrawal_id": "W2", "note": TYPED}
        status, _, page = await _post(c.client, "ana", "/customers/C1/actions", big)
        assert status == 403 and "takes four eyes" in page
        assert f'value="{escape(TYPED, quote=True)}" autofocus>' in _form_of(page, "W2")
        long = {"action": "confirm_fraud", "withdrawal_id": "W1", "note": "x" * (MAX_TEXT + 1)}
        status, _, page = await _post(c.client, "ana", "/customers/C1/actions", long)
        assert status == 400 and f"longer than {MAX_TEXT} characters" in page
        assert c.sent == []
        fine = {"action": "release", "withdrawal_id": "W1", "note": "called back"}
        status, _, _ = await _post(c.client, "ana", "/customers/C1/actions", fine)
        assert status == 303 and [d["action"] for _, d in c.sent] == ["release"]


async def test_every_note_field_of_a_customers_page_carries_the_contracts_limit() -> None:
    assert DECISION_NOTE == MAX_TEXT  # the decoder of case-decisions checks this one
    async with _customers() as c:
        cookie = SIGNER.issue("ana", "analyst", time.time())[1]
        async with c.client.get("/customers/C1", headers={"Cookie": f"{COOKIE}={cookie}"}) as r:
            page = await r.text()
    fields = re.findall(r'<input (?![^>]*type="hidden")[^>]*>', page)
    assert len(fields) == 2 and all(f'maxlength="{MAX_TEXT}"' in f for f in fields)


async def test_an_action_on_an_unknown_case_is_404_with_the_note_read_only() -> None:
    async with _served() as c:
        form = {"action": "comment", "seen": "1", "note": TYPED}
        status, kind, page = await _post(c.client, "ana", "/cases/case-nowhere/act", form)
        assert (status, kind) == (404, "text/html") and "no case case-nowhere" in page
        assert f'<textarea id="unsent" rows="3" readonly>{escape(TYPED)}</textarea>' in page
