"""The console's case pages over HTTP: the handlers (`web/console/case_http.py`) served
by a bare aiohttp app behind the console's own gate (signed session, CSRF), on a case
service over the in-memory store (tests/unit/case_fakes.py)."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.unit.case_fakes import TOPICS, FakeCaseStore, FakeProducer, service
from tests.unit.test_cases_builders import T0, news
from withdrawguard.auth.users import User
from withdrawguard.cases.links import LinkWindows, Slot, Touch, Value, slot_of
from withdrawguard.cases.summary import Summary
from withdrawguard.casework.config import load_case_config
from withdrawguard.casework.links import LinkReader
from withdrawguard.casework.service import CaseService
from withdrawguard.engine.policy import DAY, MINUTE
from withdrawguard.web.console.access import Access
from withdrawguard.web.console.case_http import CaseDesk
from withdrawguard.web.console.headers import add_security_headers
from withdrawguard.web.console.sessions import COOKIE, Signer

# The console's gate keeps the session under a string key of the request, as it has
# since Faust's views first read it; aiohttp now recommends typed keys, with a warning.
pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

CONFIG = load_case_config(None)
SIGNER = Signer(b"0123456789abcdef0123456789abcdef", 8)
PEOPLE = {"ana": "analyst", "bob": "analyst", "sue": "supervisor", "tom": "supervisor"}
PEOPLE |= {"vic": "viewer"}


class NoRevocations:
    async def revoke(self, sid: str, seconds: int) -> None:
        return None

    async def is_revoked(self, sid: str) -> bool:
        return False


@dataclass
class Gate:
    access: Access = field(default_factory=lambda: Access(SIGNER, NoRevocations()))

    def users(self) -> dict[str, User]:
        return {name: User(name, role, "") for name, role in PEOPLE.items()}


@dataclass
class Console:
    client: TestClient[Any, Any]
    service: CaseService
    store: FakeCaseStore
    producer: FakeProducer
    cookies: dict[str, tuple[str, str]] = field(default_factory=dict)

    def _sign_in(self, user: str) -> tuple[str, str]:
        if user not in self.cookies:
            session, cookie = SIGNER.issue(user, PEOPLE[user], time.time())
            self.cookies[user] = (cookie, SIGNER.csrf_token(session))
        return self.cookies[user]

    async def get(self, user: str, path: str) -> tuple[int, str, Any]:
        cookie, _ = self._sign_in(user)
        async with self.client.get(
            path, headers={"Cookie": f"{COOKIE}={cookie}"}, allow_redirects=False
        ) as resp:
            return resp.status, await resp.text(), resp.headers

    async def post(
        self, user: str, path: str, form: dict[str, Any] | list[tuple[str, str]], csrf: bool = True
    ) -> tuple[int, str, Any]:
        cookie, token = self._sign_in(user)
        fields = list(form.items()) if isinstance(form, dict) else list(form)
        if csrf:
            fields.append(("csrf", token))
        async with self.client.post(
            path, data=fields, headers={"Cookie": f"{COOKIE}={cookie}"}, allow_redirects=False
        ) as resp:
            return resp.status, await resp.text(), resp.headers


@pytest.fixture
async def console() -> AsyncIterator[Console]:
    async with _served() as c:
        yield c


@contextlib.asynccontextmanager
async def _served(
    links: LinkReader | None = None, store: FakeCaseStore | None = None
) -> AsyncIterator[Console]:
    svc, store, producer, clock = service(CONFIG, T0, store, links)
    desk = CaseDesk(Gate(), svc, clock=clock)
    gate = Gate()

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        response = await gate.access.middleware(request, handler)
        add_security_headers(response)
        return response

    def with_id(h: Callable[[web.Request, str], Awaitable[web.Response]]) -> Any:
        async def handle(request: web.Request) -> web.Response:
            return await h(request, request.match_info["case_id"])

        return handle

    app = web.Application(middlewares=[guard])
    app.router.add_get("/cases", desk.inbox)

    async def of_customer(request: web.Request) -> web.Response:
        return await desk.of_customer(request, request.match_info["customer_id"])

    app.router.add_get("/cases/of/{customer_id}", of_customer)
    app.router.add_post("/cases/next", desk.take_next)
    app.router.add_post("/cases/bulk", desk.bulk)
    app.router.add_get("/cases/{case_id}/export.json", with_id(desk.export_json))
    app.router.add_get("/cases/{case_id}/export.html", with_id(desk.export_html))
    app.router.add_post("/cases/{case_id}/act", with_id(desk.act))
    app.router.add_get("/cases/{case_id}", with_id(desk.case))
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Console(client, svc, store, producer)
    finally:
        await client.close()


async def _open(c: Console, customer: str = "cust-1", ref: str = "hold-w1", **kw: Any) -> str:
    [opened] = await c.service.intake(customer, news(ref, **kw))
    return opened.case_id


def _events(c: Console) -> list[dict[str, Any]]:
    return c.producer.values(TOPICS.events)


async def test_the_inbox_lists_open_cases_with_amount_due_and_reasons_per_tab(
    console: Console,
) -> None:
    case_id = await _open(console)
    status, page, headers = await console.get("ana", "/cases?inbox=large-withdrawals")
    assert status == 200
    row = re.search(rf'<tr id="row-{case_id}".*?</tr>', page, re.DOTALL)
    assert row is not None
    for shown in ("cust-1", "open", "5000000 JPY", "2026-12-01 09:00 UTC", "2h00m left"):
        assert shown in row.group(0)
    assert "DEST_CHANGED_RECENTLY" in row.group(0)
    assert 'id="take-next"' in page and "Assign selected" not in page  # analysts: no bulk assign
    assert "inbox=critical" not in page  # a supervisors-only inbox: no tab for an analyst
    assert "'sha256-" in headers["Content-Security-Policy"]
    _, as_supervisor, _ = await console.get("sue", "/cases")
    assert "inbox=critical" in as_supervisor and "Assign selected" in as_supervisor
    _, filtered, _ = await console.get("ana", "/cases?inbox=large-withdrawals&status=escalated")
    assert case_id not in filtered


async def test_take_next_claims_the_case_and_a_second_finds_nothing(console: Console) -> None:
    case_id = await _open(console)
    status, _, headers = await console.post("ana", "/cases/next", {"inbox": "large-withdrawals"})
    assert status == 303 and headers["Location"] == f"/cases/{case_id}?done=claimed"
    assert (await console.service.case(case_id)).assignee == "ana"
    status, page, _ = await console.post("bob", "/cases/next", {"inbox": "large-withdrawals"})
    assert status == 200 and "Nothing to take in large-withdrawals" in page
    _, mine, _ = await console.get("ana", "/cases?inbox=mine")
    assert case_id in mine


async def test_an_action_without_the_csrf_token_is_refused_and_writes_nothing(
    console: Console,
) -> None:
    case_id = await _open(console)
    form = {"action": "comment", "seen": "1", "note": "hello"}
    status, body, _ = await console.post("ana", f"/cases/{case_id}/act", form, csrf=False)
    assert status == 403 and "CSRF" in body
    assert [e["kind"] for e in _events(console)] == ["opened"]


async def test_a_viewer_reads_the_case_without_forms_and_cannot_act(console: Console) -> None:
    case_id = await _open(console)
    status, page, _ = await console.get("vic", f"/cases/{case_id}")
    assert status == 200 and "hold-w1" in page and "<form class=" not in page
    form = {"action": "comment", "seen": "1", "note": "hello"}
    status, _, _ = await console.post("vic", f"/cases/{case_id}/act", form)
    assert status == 403
    assert len(_events(console)) == 1


async def test_the_proposer_cannot_approve_and_a_second_supervisor_releases(
    console: Console,
) -> None:
    case_id = await _open(console)
    act = f"/cases/{case_id}/act"
    release = {"action": "release", "key": "hold-w1", "hold_id": "hold-w1", "seen": "1"}
    status, _, headers = await console.post("sue", act, release | {"note": "called back"})
    assert status == 303 and "release+proposed" in headers["Location"]
    [proposal] = (await console.service.case(case_id)).proposals
    own = {"action": "approve", "proposal_id": proposal.proposal_id, "key": proposal.proposal_id}
    status, page, _ = await console.post("sue", act, own | {"seen": "2", "note": "my own <b>"})
    assert status == 403
    assert "a second person must approve it" in page
    assert "my own &lt;b&gt;</textarea>" in page  # the note as typed, escaped
    assert [e["kind"] for e in _events(console)] == ["opened", "release_proposed"]
    status, _, _ = await console.post("tom", act, own | {"seen": "2", "note": "agreed"})
    assert status == 303
    assert (await console.service.case(case_id)).holds[0].fate == "released"
    [decision] = console.producer.values(TOPICS.decisions)
    assert decision["action"] == "release" and decision["withdrawal_id"] == "w1"


async def test_an_analysts_approval_is_refused_with_the_reason(console: Console) -> None:
    case_id = await _open(console)
    act = f"/cases/{case_id}/act"
    release = {"action": "release", "hold_id": "hold-w1", "seen": "1", "note": "ok"}
    assert (await console.post("ana", act, release))[0] == 303
    [proposal] = (await console.service.case(case_id)).proposals
    form = {"action": "approve", "proposal_id": proposal.proposal_id, "seen": "2"}
    status, page, _ = await console.post("ana", act, form)
    assert status == 403 and "approving takes a supervisor" in page


async def test_a_stale_version_is_409_with_what_changed_and_the_note_kept(
    console: Console,
) -> None:
    case_id = await _open(console)
    assert (await console.post("ana", "/cases/next", {"inbox": "large-withdrawals"}))[0] == 303
    form = {"action": "comment", "seen": "1", "note": "typed before the claim"}
    status, page, _ = await console.post("sue", f"/cases/{case_id}/act", form)
    assert status == 409
    assert "changed since you saw version 1" in page and "claimed by ana" in page
    assert "typed before the claim</textarea>" in page
    assert 'name="seen" value="2"' in page  # the page shows the case as it now stands
    assert [e["kind"] for e in _events(console)] == ["opened", "claimed"]


async def test_a_note_over_2048_characters_is_400_and_forms_limit_it(console: Console) -> None:
    case_id = await _open(console)
    form = {"action": "comment", "seen": "1", "note": "x" * 2049}
    status, page, _ = await console.post("ana", f"/cases/{case_id}/act", form)
    assert status == 400 and "over the limit of 2048" in page
    assert len(_events(console)) == 1
    _, fresh, _ = await console.get("ana", f"/cases/{case_id}")
    notes = re.findall(r"<textarea name=\"note\"[^>]*>", fresh)
    assert notes and all('maxlength="2048"' in n for n in notes)


@pytest.mark.parametrize(
    ("form", "status", "says"),
    [
        ({"action": "close", "seen": "1", "outcome": "maybe", "note": "n"}, 400, "outcome"),
        ({"action": "comment", "note": "n"}, 400, "seen"),
        ({"action": "release", "seen": "1", "hold_id": "hold-nope"}, 404, "no hold hold-nope"),
        ({"action": "dance", "seen": "1"}, 400, "action: must be one of"),
    ],
)
async def test_bad_forms_are_refused_with_the_field_named(
    console: Console, form: dict[str, str], status: int, says: str
) -> None:
    case_id = await _open(console)
    got, page, _ = await console.post("sue", f"/cases/{case_id}/act", form)
    assert got == status and says in page


async def test_an_unknown_case_is_404(console: Console) -> None:
    assert (await console.get("ana", "/cases/case-nowhere"))[0] == 404
    assert (await console.get("ana", "/cases/case-nowhere/export.json"))[0] == 404
    form = {"action": "comment", "seen": "1", "note": "n"}
    assert (await console.post("ana", "/cases/case-nowhere/act", form))[0] == 404


async def test_bulk_assign_takes_a_supervisor_and_assigns_every_selected_case(
    console: Console,
) -> None:
    ids = [await _open(console, f"cust-{n}", f"hold-w{n}") for n in range(3)]
    picked = [("case", f"{i}@1") for i in ids[:2]]
    form = [("op", "assign"), ("assignee", "bob"), ("inbox", "large-withdrawals"), *picked]
    status, _, _ = await console.post("ana", "/cases/bulk", form)
    assert status == 403 and len(_events(console)) == 3
    status, _, headers = await console.post("sue", "/cases/bulk", form)
    assert status == 303 and "2+case" in headers["Location"]
    assigned = [(await console.service.case(i)).assignee for i in ids]
    assert assigned == ["bob", "bob", None]


async def test_bulk_close_closes_each_and_refuses_a_changed_one_with_409(
    console: Console,
) -> None:
    ids = [await _open(console, f"cust-{n}", f"hold-w{n}") for n in range(2)]
    for n in range(2):  # released: the cases may close as a false positive
        await console.service.intake(f"cust-{n}", news(f"hold-w{n}", status="released"))
    # The second case changed since the page listed it at version 1.
    comment = {"action": "comment", "seen": "2", "note": "meanwhile"}
    assert (await console.post("bob", f"/cases/{ids[1]}/act", comment))[0] == 303
    form = [("op", "close"), ("outcome", "false_positive"), ("note", "bulk note")]
    form += [("case", f"{i}@2") for i in ids]
    status, page, _ = await console.post("sue", "/cases/bulk", form)
    assert status == 409 and f"{ids[1]}: 409" in page and "1 case(s) closed" in page
    assert "bulk note</textarea>" in page
    closed = [(await console.service.case(i)).outcome for i in ids]
    assert closed == ["false_positive", None]
    status, page, _ = await console.post("sue", "/cases/bulk", [*form[:2], ("case", "x@1")])
    assert status == 400 and "note: is required" in page


SELECTED = ("case", "SELECTED")
"""Stands for the two open cases, each at the version its row showed."""


@pytest.mark.parametrize(
    ("who", "form", "status", "says"),
    [
        ("sue", [("op", "close"), ("outcome", "false_positive"), ("note", "n")], 400, "case: sel"),
        (
            "sue",
            [("op", "close"), ("outcome", "maybe"), ("note", "n"), SELECTED],
            400,
            "outcome: must be one of",
        ),
        ("sue", [("op", "close"), ("outcome", "false_positive"), SELECTED], 400, "note: is requ"),
        ("ana", [("op", "assign"), ("assignee", "bob"), SELECTED], 403, "bulk takes a superv"),
    ],
)
async def test_a_bad_bulk_form_is_refused_before_any_case_is_touched(
    console: Console, who: str, form: list[tuple[str, str]], status: int, says: str
) -> None:
    ids = [await _open(console, f"cust-{n}", f"hold-w{n}") for n in range(2)]
    before = _events(console)
    sent = [f for f in form if f != SELECTED]
    if SELECTED in form:
        sent += [("case", f"{i}@1") for i in ids]
    got, page, _ = await console.post(who, "/cases/bulk", sent)
    assert (got, says in page) == (status, True), page[:2000]
    assert _events(console) == before


async def test_export_holds_every_step_as_json_and_an_escaped_printable_page(
    console: Console,
) -> None:
    case_id = await _open(console)
    act = f"/cases/{case_id}/act"
    await console.post("ana", act, {"action": "claim", "seen": "1"})
    await console.post("ana", act, {"action": "comment", "seen": "2", "note": "<script>x</script>"})
    status, body, headers = await console.get("vic", f"/cases/{case_id}/export.json")
    assert status == 200 and "attachment" in headers["Content-Disposition"]
    kinds = [e["kind"] for e in orjson.loads(body)["events"]]
    assert kinds == ["opened", "claimed", "commented"]
    status, page, headers = await console.get("vic", f"/cases/{case_id}/export.html")
    assert status == 200 and "<script>x" not in page and "&lt;script&gt;x" in page
    assert "style-src 'sha256-" in headers["Content-Security-Policy"]
    assert "script-src" not in headers["Content-Security-Policy"]
    _, case_page, _ = await console.get("ana", f"/cases/{case_id}")
    assert "<script>x" not in case_page and "&lt;script&gt;x" in case_page


async def test_a_suppression_is_added_from_the_case_page_and_listed(console: Console) -> None:
    case_id = await _open(console)
    _, offered, _ = await console.get("ana", f"/cases/{case_id}")
    assert 'value="NEW_DEVICE"' in offered
    for never in ("CONFIRMED_FRAUD_DESTINATION", "SOURCE_IP_SHARED"):  # not offered at all
        assert f'name="reason" value="{never}"' not in offered
    form = [("action", "suppress"), ("seen", "1"), ("reason", "NEW_DEVICE")]
    form += [("until", "2026-12-05T09:00"), ("note", "new phone verified")]
    status, _, _ = await console.post("sue", f"/cases/{case_id}/act", form)
    assert status == 303
    _, page, _ = await console.get("ana", f"/cases/{case_id}")
    table = page.split('id="suppressions"')[1].split("</table>")[0]
    assert "NEW_DEVICE" in table and "2026-12-05 09:00 UTC" in table and "sue" in table
    too_long = [*form[:3], ("until", "2027-06-01T00:00"), ("note", "n"), ("seen", "2")]
    status, page, _ = await console.post("sue", f"/cases/{case_id}/act", too_long[1:])
    assert status == 400 and "until" in page


class _Touched:
    """The links projection, in memory: every customer touched the values given."""

    def __init__(self, touches: list[Touch], windows: LinkWindows) -> None:
        self.touches, self.windows = touches, windows

    async def seen_by(self, customer_id: str, since_ms: int) -> list[tuple[Value, list[Slot]]]:
        values = {x.value for x in self.touches}
        return [
            (v, [slot_of(x, self.windows) for x in self.touches if x.value == v]) for v in values
        ]


class _CasesOf:
    def __init__(self, store: FakeCaseStore) -> None:
        self.store = store

    async def current_cases(self, customer_ids: Sequence[str]) -> dict[str, Summary]:
        found = await self.store.summaries(await self.store.case_ids())
        return {s.customer_id: s for s in found if s.customer_id in customer_ids}


async def test_the_case_page_and_its_export_list_linked_customers_with_their_case() -> None:
    windows = LinkWindows(destination=30 * DAY, ip=60 * MINUTE, device=30 * DAY)
    now = int(T0.timestamp() * 1000)
    device = Value("device", "dev-<9>", "dev-<9>")
    touches = [Touch(device, "cust-1", now - MINUTE), Touch(device, "cust-2", now - 2 * MINUTE)]
    touches.append(Touch(device, "cust-3", now - 3 * MINUTE))
    store = FakeCaseStore()
    reader = LinkReader(_Touched(touches, windows), _CasesOf(store), lambda: windows)
    async with _served(reader, store) as c:
        case_id = await _open(c, "cust-1", "hold-w1")
        other = await _open(c, "cust-2", "hold-w2")
        status, page, _ = await c.get("ana", f"/cases/{case_id}")
        assert status == 200
        links = page.split('id="links"')[1].split("</table>")[0]
        assert "dev-&lt;9&gt;" in links and "<9>" not in links
        assert f'href="/cases/{other}"' in links and "cust-3" in links and "no case" in links
        status, body, _ = await c.get("ana", f"/cases/{case_id}/export.json")
        assert status == 200
        exported = {x["customer_id"]: x["case_id"] for x in orjson.loads(body)["links"]}
        assert exported == {"cust-2": other, "cust-3": None}


async def test_a_customers_current_case_is_one_redirect_away_and_none_is_404(
    console: Console,
) -> None:
    case_id = await _open(console, "cust-9", "hold-w9")
    status, _, headers = await console.get("ana", "/cases/of/cust-9")
    assert (status, headers["Location"]) == (303, f"/cases/{case_id}")
    status, body, _ = await console.get("ana", "/cases/of/nobody")
    assert status == 404 and "customer nobody has no case" in body
