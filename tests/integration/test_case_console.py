"""The console's case pages on a real worker over HTTP, on the real Kafka and Redis:
the inbox lists the cases the case service opened, take next claims one, four eyes
refuses the proposer's own approval (403), a page older than the case is refused (409)
and a note too long (400), both writing nothing; bulk assign and close; the export.

Cases are opened with a case service of the test's own (the worker's intake of a
detector's hold is covered by tests/integration/test_cases.py and the Chromium walk
through, tests/browser/test_case_workflow.py)."""

from __future__ import annotations

import asyncio
import http.client
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

import orjson
import pytest

from tests.integration.harness import Worker, isolated_settings, unique
from tests.integration.test_cases import _with_service
from tests.integration.web_client import add_users
from withdrawguard.cases.events import Trigger
from withdrawguard.casework.service import CaseService
from withdrawguard.settings import Settings
from withdrawguard.web.console.sessions import COOKIE

pytestmark = pytest.mark.integration

PASSWORD = "case-console-pass-1"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass
class Page:
    status: int
    headers: http.client.HTTPMessage
    text: str


@dataclass
class Person:
    """A console user signed in over HTTP: the session cookie and its CSRF token."""

    settings: Settings
    name: str
    cookie: str = ""
    csrf: str = ""

    def call(self, method: str, path: str, body: bytes = b"") -> Page:
        conn = http.client.HTTPConnection("127.0.0.1", self.settings.web_port, timeout=30)
        headers = FORM | ({"Cookie": self.cookie} if self.cookie else {})
        try:
            conn.request(method, path, body=body or None, headers=headers)
            r = conn.getresponse()
            return Page(r.status, r.headers, r.read().decode())
        finally:
            conn.close()

    def sign_in(self) -> Person:
        r = self.call(
            "POST", "/login", urlencode({"user": self.name, "password": PASSWORD}).encode()
        )
        assert r.status == 303, r.text
        self.cookie = r.headers["Set-Cookie"].split(";")[0]
        assert self.cookie.startswith(COOKIE + "=")
        page = self.get("/cases")
        self.csrf = page.text.split('data-csrf="')[1].split('"')[0]
        return self

    def get(self, path: str) -> Page:
        return self.call("GET", path)

    def post(self, path: str, form: list[tuple[str, str]] | dict[str, str]) -> Page:
        fields = list(form.items()) if isinstance(form, dict) else list(form)
        return self.call("POST", path, urlencode([*fields, ("csrf", self.csrf)]).encode())


@pytest.fixture(scope="module")
def console(
    services: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    d = tmp_path_factory.mktemp("case-console")
    (d / "session.secret").write_text(uuid.uuid4().hex + uuid.uuid4().hex)
    settings = isolated_settings(
        services,
        "casecon",
        d / "worker",
        users_file=d / "users.json",
        session_secret_file=d / "session.secret",
    )
    people = {"ana": "analyst", "sue": "supervisor", "tom": "supervisor"}
    add_users(settings, {n: (r, PASSWORD) for n, r in people.items()})
    worker = Worker(settings, d / "worker.log")
    worker.start()
    try:
        yield settings
    finally:
        worker.stop()


def _news(ref: str, amount: int, status: str = "held") -> Trigger:
    return Trigger(
        kind="hold",
        ref_id=ref,
        severity="high",
        reason_codes=("DRAIN",),
        withdrawal_id=ref.removeprefix("hold-"),
        amount=Decimal(amount),
        currency="JPY",
        hold_status=status,  # type: ignore[arg-type]  # held or released, by name
    )


def _intake(settings: Settings, news: list[tuple[str, Trigger]]) -> list[str]:
    async def go(service: CaseService) -> list[str]:
        ids = []
        for customer, trigger in news:
            events = await service.intake(customer, trigger)
            ids.extend(e.case_id for e in events if e.kind == "opened")
        return ids

    return asyncio.run(_with_service(settings, go))


def _version(page: Page) -> str:
    found = re.search(r'name="seen" value="(\d+)"', page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


def test_case_work_over_the_console_on_a_real_worker(console: Settings, tmp_path: Path) -> None:
    run = unique("cc")
    small = [(f"{run}-c{n}", _news(f"hold-{run}-w{n}", 50_000 + n)) for n in range(3)]
    large = [(f"{run}-big", _news(f"hold-{run}-wbig", 5_000_000))]
    *general, big = _intake(console, small + large)
    ana, sue, tom = (Person(console, n).sign_in() for n in ("ana", "sue", "tom"))

    # The inbox lists the cases, with the held amount.
    page = ana.get("/cases?inbox=general")
    assert page.status == 200
    for case_id, n in zip(general, range(3), strict=True):
        row = re.search(rf'<tr id="row-{case_id}".*?</tr>', page.text, re.DOTALL)
        assert row is not None and f"{50_000 + n} JPY" in row.group(0)
    assert big in ana.get("/cases?inbox=large-withdrawals").text

    # Take next claims the case due first; the console sends the browser to it.
    taken = ana.post("/cases/next", {"inbox": "general"})
    assert taken.status == 303 and taken.headers["Location"] == f"/cases/{general[0]}?done=claimed"
    assert '<td id="case-assignee">ana</td>' in ana.get(f"/cases/{general[0]}").text

    # A page older than the case: 409 with what changed, nothing written.
    stale = sue.post(f"/cases/{general[0]}/act", {"action": "comment", "seen": "1", "note": "hi"})
    assert stale.status == 409 and "claimed by ana" in stale.text
    # A note over 2,048 characters: 400, nothing written.
    current = _version(ana.get(f"/cases/{general[0]}"))
    long = ana.post(
        f"/cases/{general[0]}/act", {"action": "comment", "seen": current, "note": "x" * 2049}
    )
    assert long.status == 400 and "over the limit of 2048" in long.text
    assert _version(ana.get(f"/cases/{general[0]}")) == current

    # Four eyes: the proposer's own approval is refused; another supervisor's is not.
    hold = f"hold-{run}-wbig"
    seen = _version(sue.get(f"/cases/{big}"))
    form = {"action": "release", "hold_id": hold, "seen": seen, "note": "called back"}
    assert sue.post(f"/cases/{big}/act", form).status == 303
    case_page = sue.get(f"/cases/{big}")
    proposal = re.search(r'name="proposal_id" value="([^"]+)"', case_page.text)
    assert proposal is not None
    approve = {"action": "approve", "proposal_id": proposal.group(1), "seen": _version(case_page)}
    own = sue.post(f"/cases/{big}/act", approve)
    assert own.status == 403 and "a second person must approve it" in own.text
    assert tom.post(f"/cases/{big}/act", approve).status == 303
    assert 'class="status st-released">released' in tom.get(f"/cases/{big}").text

    # Bulk: a supervisor assigns two cases to tom, then (their holds released) closes them.
    rest = general[1:]
    picked = [("case", f"{c}@1") for c in rest]
    assigned = sue.post("/cases/bulk", [("op", "assign"), ("assignee", "tom"), *picked])
    assert assigned.status == 303, assigned.text
    mine = tom.get("/cases?inbox=mine").text
    assert all(c in mine for c in rest)
    released = [(cust, _news(t.ref_id, int(t.amount or 0), "released")) for cust, t in small[1:]]
    _intake(console, released)
    versions = [("case", f"{c}@{_version(tom.get(f'/cases/{c}'))}") for c in rest]
    closing = [("op", "close"), ("outcome", "false_positive"), ("note", "customer's own")]
    closed = tom.post("/cases/bulk", [*closing, *versions])
    assert closed.status == 303, closed.text
    for c in rest:
        assert 'id="case-status">closed: false_positive' in tom.get(f"/cases/{c}").text

    # The export holds every step.
    exported = orjson.loads(tom.get(f"/cases/{big}/export.json").text)
    kinds = [e["kind"] for e in exported["events"]]
    assert kinds == ["opened", "release_proposed", "release_approved"]
    printable = tom.get(f"/cases/{big}/export.html")
    assert printable.status == 200 and "release_approved" in printable.text
    assert "called back" in printable.text
