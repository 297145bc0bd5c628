"""A demo-shaped history in a real Chromium: holds aged in minutes and hours, and an
analyst's action on a demo customer that leaves the customer's history on the page.

The history is the demo's (`sim.demo.demo_config`: 24 days ending now, two chain attacks
of four withdrawals each), produced to a worker of its own. On the page of a victim, the
analyst confirms fraud on one held withdrawal; every event the page showed before is
still there after (the decision is dated now, the history ends now), the sibling holds
are still held, and each still shows the events that made it.
"""

from __future__ import annotations

import re
import uuid
from argparse import Namespace
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.integration.harness import Worker, isolated_settings
from tests.integration.web_client import add_users, base
from withdrawguard.progress import Progress
from withdrawguard.settings import Settings
from withdrawguard.sim.demo import demo_config
from withdrawguard.sim.generate import generate
from withdrawguard.sim.live import Played, play

pytestmark = pytest.mark.integration

PASSWORD = "demo-history-pass-1"
NOTE = "Customer denies the change: the account is not theirs."


@pytest.fixture(scope="module")
def deployment(
    services: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, Played, list[dict[str, Any]]]]:
    d = tmp_path_factory.mktemp("demo-history")
    (d / "session.secret").write_text(uuid.uuid4().hex + uuid.uuid4().hex)
    settings = isolated_settings(
        services,
        "demohist",
        d / "worker",
        users_file=d / "users.json",
        session_secret_file=d / "session.secret",
    )
    add_users(settings, {"ana": ("analyst", PASSWORD)})
    args = Namespace(customers=40, days=24, attacks=2)
    config = demo_config(args, 11, uuid.uuid4().hex[:6], datetime.now(UTC))
    sim = generate(replace(config, playbooks=("chain_2020",)))
    worker = Worker(settings, d / "worker.log")
    worker.start()
    try:
        played = play(sim, settings, None, Progress(None))
        assert not played.missing, f"{len(played.missing)} withdrawals got no verdict"
        yield settings, played, sim.labels
    finally:
        worker.stop()


def _victim(played: Played, labels: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """A chain attack's customer and its held withdrawals (at least two)."""
    by_customer: dict[str, list[str]] = {}
    for x in labels:
        if x.get("playbook") == "chain_2020" and played.outcomes[x["withdrawal_id"]].held:
            by_customer.setdefault(x["customer_id"], []).append(x["withdrawal_id"])
    cid, held = max(by_customer.items(), key=lambda kv: len(kv[1]))
    assert len(held) >= 2, by_customer
    return cid, held


def _shown(page: Any) -> dict[str, str]:
    """Event id -> the row's text, for every row of the customer page."""
    rows = page.locator("tbody tr")
    return {
        rows.nth(i).locator("td").nth(1).locator(".muted").inner_text(): rows.nth(i).inner_text()
        for i in range(rows.count())
    }


def test_holds_read_in_minutes_and_hours_and_an_action_keeps_the_customers_history(
    deployment: tuple[Settings, Played, list[dict[str, Any]]], browser: Any
) -> None:
    settings, played, labels = deployment
    cid, held = _victim(played, labels)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(base(settings) + "/login")
    page.fill("input[name=user]", "ana")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url("**/console")

    # The open holds' ages: minutes and hours since the history ends now, not months.
    page.locator(f"[id='hold-{held[0]}'] .age").wait_for(timeout=30_000)
    page.wait_for_function(
        "id => document.getElementById(id).querySelector('.age').textContent !== ''",
        arg=f"hold-{held[0]}",
    )
    ages = page.locator("tr.hold .age").all_inner_texts()
    hours = [int(a.split()[0]) for a in ages if a.endswith(" h")]
    assert ages and all(re.fullmatch(r"\d+ (s|min|h)", a) for a in ages), ages
    assert max(hours, default=0) <= 24 * 24, ages  # within the 24 days of history

    page.goto(f"{base(settings)}/customers/{cid}")
    before = _shown(page)
    for wid in held:
        assert any(f"withdrawal {wid} of " in text for text in before.values()), wid

    target, siblings = held[0], held[1:]
    row = page.locator("tr", has=page.locator(f"[data-wid='{target}']"))
    row.locator("input[name=note]").fill(NOTE)
    row.locator("button[value=confirm_fraud]").click()
    page.wait_for_load_state()
    status = page.locator(f"[data-wid='{target}']")
    for _ in range(60):  # the detector's decision comes back through Kafka
        page.goto(f"{base(settings)}/customers/{cid}")
        if status.inner_text().startswith("confirmed_fraud"):
            break
        page.wait_for_timeout(500)
    assert status.inner_text().startswith("confirmed_fraud")

    after = _shown(page)
    assert set(before) <= set(after), sorted(set(before) - set(after))
    for wid in siblings:
        assert page.locator(f"[data-wid='{wid}']").inner_text().startswith("held")
        cited = [text for text in after.values() if f"evidence for {wid}" in text]
        assert len(cited) >= 3, (wid, cited)
    context.close()
