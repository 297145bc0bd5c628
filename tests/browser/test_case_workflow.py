"""One case walked end to end in a real Chromium, on two workers of one deployment.

A chain attack (the 2020 SBI chain, its withdrawal raised to ¥5,000,000) is held by the
detector; its case opens in the inbox its verdict routes to. The deployment's inboxes
(WG_INBOXES_FILE) send high and critical severity to `high-risk`, which analysts work,
so the case lands there whichever of its news (the hold, the critical alert) the case
hears of first (with the packaged inboxes a critical alert first routes it to
`critical`, which only supervisors work). Analyst A, signed in on worker A, takes it
from the inbox, comments and proposes the release of the hold; A's own approval is
refused with 403 and the reason on the page; supervisor B, signed in on worker B,
approves; the detector releases the hold and re-issues the verdict; the case closes with
an outcome; its export holds every step.

With WG_SCREENSHOTS_DIR set, PNGs of the inbox, the case page and the four-eyes step
(refusal, approval) are saved there (docs/operations.md uses them).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest

from tests.integration.harness import (
    Bus,
    Worker,
    _free_port,
    collecting_bus,
    isolated_settings,
    unique,
)
from tests.integration.test_cases import _cases_of
from tests.integration.test_detector import attacker
from tests.integration.web_client import add_users, base, get, wait
from withdrawguard.casework.config import load_case_config
from withdrawguard.casework.news import verdict_trigger
from withdrawguard.contract import topics as t
from withdrawguard.settings import Settings
from withdrawguard.sim import scenarios as s

pytestmark = pytest.mark.integration

X = TypeVar("X")
PASSWORDS = {"ana": "case-worker-pass-9", "bea": "supervisor-pass-9"}
COMMENT = "Called the customer on the number on file: the withdrawal is theirs."
PROPOSAL = "Customer confirmed the new account and device by call-back."
APPROVAL = "Checked the call record: agreed."
CLOSING = "The customer's own withdrawal; new device and account verified."
INBOXES = """
default = "general"

[[inbox]]
name = "high-risk"
description = "High and critical severity: analysts work them, supervisors approve."
sla_hours = 2
severities = ["high", "critical"]

[[inbox]]
name = "general"
description = "Everything else."
sla_hours = 8
"""


def _shots() -> Path | None:
    where = os.environ.get("WG_SCREENSHOTS_DIR")
    if not where:
        return None
    path = Path(where)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _shoot(page: Any, name: str) -> None:
    if (where := _shots()) is not None:
        page.screenshot(path=str(where / name), full_page=True)


@pytest.fixture(scope="module")
def pair(
    services: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Settings, Settings]:
    d = tmp_path_factory.mktemp("case-workflow")
    (d / "session.secret").write_text(uuid.uuid4().hex + uuid.uuid4().hex)
    a = isolated_settings(
        services,
        "caseflow",
        d / "a",
        users_file=d / "users.json",
        session_secret_file=d / "session.secret",
    )
    (d / "inboxes.toml").write_text(INBOXES, encoding="utf-8")
    a = replace(a, canonical_url=base(a), inboxes_file=d / "inboxes.toml")
    port_b = _free_port()
    b = replace(a, data_dir=d / "b", web_port=port_b, canonical_url=f"http://127.0.0.1:{port_b}")
    add_users(a, {"ana": ("analyst", PASSWORDS["ana"]), "bea": ("supervisor", PASSWORDS["bea"])})
    return a, b


@pytest.fixture(scope="module")
def workers(
    pair: tuple[Settings, Settings], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Worker, Worker]]:
    logs = tmp_path_factory.mktemp("case-workflow-logs")
    a, b = (Worker(st, logs / f"worker-{n}.log") for n, st in zip("ab", pair, strict=True))
    a.start()
    try:
        b.start()
        wait("both workers ready", lambda: all(get(base(st) + "/ready")[0] == 200 for st in pair))
        yield a, b
    finally:
        b.stop()
        a.stop()


def _sign_in(browser: Any, pair: tuple[Settings, Settings], on: Settings, user: str) -> Any:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    local = tuple(base(st) + "/" for st in pair)
    context.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith(local) else route.abort(),
    )
    page = context.new_page()
    page.goto(base(on) + "/login")
    page.fill("input[name=user]", user)
    page.fill("input[name=password]", PASSWORDS[user])
    page.click("button:has-text('Sign in')")
    page.wait_for_url(base(on) + "/console")
    return page


def _off_the_loop(read: Callable[[], X]) -> X:
    """`read()` (which runs an event loop of its own) in a thread: Playwright's sync
    API keeps one running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(read).result()


def _hold(bus: Bus, cid: str) -> dict[str, Any]:
    """A chain attack on `cid` whose last withdrawal, ¥5,000,000, is held: its verdict."""
    ip, dest = attacker()
    chain = s.sbi_chain(cid, datetime.now(UTC) - timedelta(hours=1), dest, attacker_ip=ip)
    last = dict(chain[-1][1])
    last.update(amount="5000000", available_balance="5200000")
    bus.send([*chain[:-1], (chain[-1][0], last)])
    wid = f"{cid}-wd-attack"
    held = bus.wait_for(
        "the hold verdict",
        lambda: bus.values("withdrawal-decisions", withdrawal_id=wid, decision="hold"),
        60,
    )
    return dict(held[0])


def test_a_held_chain_attack_is_worked_end_to_end_with_four_eyes_on_two_workers(
    pair: tuple[Settings, Settings], workers: tuple[Worker, Worker], browser: Any
) -> None:
    a, b = pair
    cid = unique("flow")
    wid = f"{cid}-wd-attack"
    hold_id = f"hold-{wid}"
    with collecting_bus(a, (t.WITHDRAWAL_DECISIONS, t.WITHDRAWAL_HOLDS)) as bus:
        verdict = _hold(bus, cid)
        # The critical alert may open the case a moment before the hold joins it.
        [case] = wait(
            "the case with its hold",
            lambda: [c for c in _off_the_loop(lambda: _cases_of(a, cid)) if c.holds],
            60,
        )
        news = verdict_trigger(verdict)
        assert news is not None
        assert case.inbox == "high-risk"
        assert load_case_config(a.inboxes_file).inboxes.route(news[1]).name == case.inbox
        assert [(h.hold_id, h.amount) for h in case.holds] == [(hold_id, Decimal(5_000_000))]

        # A, on worker A: the case in its inbox, taken with "Take next".
        page_a = _sign_in(browser, pair, a, "ana")
        page_a.goto(f"{base(a)}/cases?inbox={case.inbox}")
        row = page_a.locator(f"[id='row-{case.case_id}']")
        row.wait_for()
        assert "5000000 JPY" in row.inner_text() and "left" in row.inner_text()
        _shoot(page_a, "cases-inbox.png")
        page_a.click("#take-next button")
        page_a.wait_for_url(f"{base(a)}/cases/{case.case_id}?done=claimed")
        assert page_a.inner_text("#case-assignee") == "ana"

        def act(page: Any, action: str, note: str) -> None:
            form = page.locator(f"form[data-action={action}]")
            form.locator("textarea[name=note]").fill(note)
            form.locator("button").click()
            page.wait_for_load_state()

        act(page_a, "comment", COMMENT)
        page_a.wait_for_url("**done=commented")
        act(page_a, "release", PROPOSAL)
        page_a.wait_for_url("**done=release+proposed")
        proposals = page_a.locator("#proposals")
        assert PROPOSAL in proposals.inner_text() and "ana" in proposals.inner_text()
        _shoot(page_a, "case-page.png")

        # A's own approval: refused, 403, with the reason, and nothing written.
        with page_a.expect_response(lambda r: r.url.endswith("/act")) as refused:
            act(page_a, "approve", "approving my own proposal")
        assert refused.value.status == 403
        error = page_a.inner_text("#error")
        assert error.startswith("403") and "a second person must approve it" in error
        assert page_a.locator("form[data-action=approve] textarea").input_value() == (
            "approving my own proposal"
        )
        _shoot(page_a, "four-eyes-refused.png")

        # Supervisor B, on worker B, approves: the hold is released.
        page_b = _sign_in(browser, pair, b, "bea")
        page_b.goto(f"{base(b)}/cases/{case.case_id}")
        with page_b.expect_response(lambda r: r.url.endswith("/act")) as approved:
            act(page_b, "approve", APPROVAL)
        assert approved.value.status == 303
        page_b.wait_for_url("**done=release+approved")
        assert page_b.inner_text(f"[id='hold-{hold_id}'] .status") == "released"
        _shoot(page_b, "four-eyes-approved.png")

        # The detector releases the hold and re-issues the verdict.
        def reissued() -> list[dict[str, Any]]:
            return [
                v
                for v in bus.values("withdrawal-decisions", withdrawal_id=wid)
                if v["decision"] == "allow" and "RELEASED" in {r["code"] for r in v["reasons"]}
            ]

        bus.wait_for("the verdict re-issued as released", reissued, 60)
        bus.wait_for(
            "the hold released",
            lambda: bus.values("withdrawal-holds", withdrawal_id=wid, status="released"),
            60,
        )

        # The case hears of the release (the detector's hold record joins it) before A
        # looks again: else A's close, made on the version before, is refused (409).
        wait(
            "the case to hear of the release",
            lambda: [
                c
                for c in _off_the_loop(lambda: _cases_of(a, cid))
                if any(k.startswith(f"hold:{hold_id}:released:") for k in c.seen)
            ],
            60,
        )

        # A closes the case with an outcome.
        page_a.goto(f"{base(a)}/cases/{case.case_id}")
        page_a.select_option("form[data-action=close] select[name=outcome]", "customer_verified")
        act(page_a, "close", CLOSING)
        page_a.wait_for_url("**done=closed")
        assert page_a.inner_text("#case-status") == "closed: customer_verified"

        # The export holds every step, with its actor and note; the refusal wrote nothing.
        exported = orjson.loads(
            page_a.request.get(f"{base(b)}/cases/{case.case_id}/export.json").body()
        )
        steps = [(e["kind"], e["actor"], e.get("note")) for e in exported["events"]]
        assert steps[0][0] == "opened"  # the detector's news joins too (`joined`, by system)
        assert [k for k, who, _ in steps if who != "system"] == [
            "claimed", "commented", "release_proposed", "release_approved", "closed",
        ]  # fmt: skip
        assert ("commented", "ana", COMMENT) in steps
        assert ("release_proposed", "ana", PROPOSAL) in steps
        assert ("release_approved", "bea", APPROVAL) in steps
        assert ("closed", "ana", CLOSING) in steps
        assert exported["holds"][0]["fate"] == "released"
        assert exported["outcome"] == "customer_verified"
        printable = page_a.request.get(f"{base(a)}/cases/{case.case_id}/export.html").text()
        assert APPROVAL in printable and "release_approved" in printable


STALE = "Typed on a page that someone else's comment made stale."


def test_a_refused_case_action_shows_the_case_page_again_with_the_note_in_its_field(
    pair: tuple[Settings, Settings], workers: tuple[Worker, Worker], browser: Any
) -> None:
    """A page older than the case is refused (409), and a form whose CSRF token is of a
    session signed out meanwhile (403): each time the case page comes back with the
    reason, the note still in its field and focused, and sending it again works."""
    a, b = pair
    cid = unique("refused")
    with collecting_bus(a, (t.WITHDRAWAL_DECISIONS, t.WITHDRAWAL_HOLDS)) as bus:
        _hold(bus, cid)
        [case] = wait(
            "the case with its hold",
            lambda: [c for c in _off_the_loop(lambda: _cases_of(a, cid)) if c.holds],
            60,
        )
    page = _sign_in(browser, pair, a, "ana")
    page.goto(f"{base(a)}/cases/{case.case_id}")
    # Meanwhile supervisor B comments on worker B: A's page is now older than the case.
    page_b = _sign_in(browser, pair, b, "bea")
    page_b.goto(f"{base(b)}/cases/{case.case_id}")
    page_b.locator("form[data-action=comment] textarea[name=note]").fill("Looked at it.")
    page_b.locator("form[data-action=comment] button").click()
    page_b.wait_for_url("**done=commented")

    def send(expect: int) -> str:
        """A's comment sent from the page as it is; the #error it answers with."""
        with page.expect_response(lambda r: r.url.endswith("/act")) as answer:
            page.locator("form[data-action=comment] button").click()
        assert answer.value.status == expect
        page.wait_for_load_state()
        return page.inner_text("#error") if expect != 303 else ""

    note = page.locator("form[data-action=comment] textarea[name=note]")
    note.fill(STALE)
    error = send(409)
    assert error.startswith("409") and "commented by bea" in error
    assert note.input_value() == STALE
    assert page.evaluate("document.activeElement.closest('form').dataset.action") == "comment"
    _shoot(page, "case-refused-409.png")

    # Signed out and in again in another tab: this page's CSRF token is the old session's.
    other = page.context.new_page()
    other.goto(f"{base(a)}/cases")
    other.click("button:has-text('Sign out')")
    other.wait_for_url("**/login")
    other.fill("input[name=user]", "ana")
    other.fill("input[name=password]", PASSWORDS["ana"])
    other.click("button:has-text('Sign in')")
    other.wait_for_url("**/console")
    error = send(403)
    assert error == "403: missing or wrong CSRF token"
    assert note.input_value() == STALE  # and the page now carries the new session's token

    send(303)
    page.wait_for_url("**done=commented")
    steps = orjson.loads(page.request.get(f"{base(a)}/cases/{case.case_id}/export.json").body())
    comments = [(e["actor"], e["note"]) for e in steps["events"] if e["kind"] == "commented"]
    assert comments == [("bea", "Looked at it."), ("ana", STALE)]
