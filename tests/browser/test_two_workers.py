"""The ops console and the decision API with two workers in one consumer group.

Two `withdrawguard worker` processes share a deployment (topics, group, Redis keys,
users, session secret) and each has its own web port, data dir and WG_CANONICAL_URL.
Once the group has split the partitions, customers are sent an SBI chain each, one
customer on every partition, so both workers hold some. In a real Chromium an analyst
signs in on worker A and confirms fraud on the hold of a customer worker B owns, and the
other way round. The action only succeeds on the owner (a worker without the customer's
state refuses it), so each shows the request reached the owner; then the hold is
confirmed in the registry, each customer's page (read from the owner's table, wherever it
is asked) lists the case decision, and the decision API answers alike from both workers.
(Releasing the chain's 9,500,000 JPY takes four eyes in its case: test_case_workflow.py.)
The deployment's topics and consumer groups are deleted when every test passed
(tests/broker_cleanup.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.harness import (
    Worker,
    _free_port,
    collecting_bus,
    isolated_settings,
    unique,
)
from tests.integration.test_detector import attacker
from tests.integration.web_client import add_users, base, get, wait
from withdrawguard.contract import topics as t
from withdrawguard.settings import Settings
from withdrawguard.sim import scenarios as s
from withdrawguard.streaming.detect.placement import partition_for

pytestmark = pytest.mark.integration

PASSWORD = "analyst-pass-2"
TOKEN = uuid.uuid4().hex
NOTE = "Customer confirmed the withdrawal by call-back."
LAG = "withdrawguard_consumer_lag_messages"


@pytest.fixture(scope="module")
def pair(
    services: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Settings, Settings]:
    """Settings of workers A and B of one deployment (isolated_settings: its topics and
    groups are deleted when every test here passed, tests/broker_cleanup.py)."""
    d = tmp_path_factory.mktemp("two-workers")
    (d / "session.secret").write_text(uuid.uuid4().hex + uuid.uuid4().hex)
    (d / "tokens").write_text(TOKEN + "\n")
    a = isolated_settings(
        services,
        "two",
        d / "a",
        users_file=d / "users.json",
        session_secret_file=d / "session.secret",
        service_tokens_file=d / "tokens",
    )
    a = replace(a, canonical_url=base(a))
    port_b = _free_port()
    b = replace(a, data_dir=d / "b", web_port=port_b, canonical_url=f"http://127.0.0.1:{port_b}")
    add_users(a, {"ana": ("analyst", PASSWORD)})
    return a, b


def consumed_partitions(settings: Settings) -> set[int]:
    """Partition numbers the worker reports consumer lag for: those it was assigned, of
    every topic an agent reads (the group gives a worker the same numbers of each)."""
    _, text = get(base(settings) + "/metrics")
    return {
        int(sample.labels["partition"])
        for family in text_string_to_metric_families(text.decode())
        if family.name == LAG
        for sample in family.samples
    }


@pytest.fixture(scope="module")
def workers(
    pair: tuple[Settings, Settings], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Worker, Worker]]:
    logs = tmp_path_factory.mktemp("two-workers-logs")
    a, b = (Worker(st, logs / f"worker-{n}.log") for n, st in zip("ab", pair, strict=True))
    a.start()
    try:
        b.start()
        # B is ready once it holds partitions; A is ready again after the rebalance.
        wait("both workers ready", lambda: all(get(base(st) + "/ready")[0] == 200 for st in pair))
        yield a, b
    finally:
        b.stop()
        a.stop()


@pytest.fixture(scope="module")
def owned(
    pair: tuple[Settings, Settings], workers: tuple[Worker, Worker]
) -> dict[str, tuple[str, int]]:
    """One SBI-chain customer on every partition, sent once both workers are in the group:
    withdrawal id -> (customer id, index of the owning worker, 0 for A, 1 for B)."""
    a, _ = pair
    customers: dict[int, str] = {}
    while len(customers) < a.partitions:
        cid = unique("two")
        customers.setdefault(partition_for(cid.encode(), a.partitions), cid)
    chains = {}
    for cid in customers.values():
        ip, dest = attacker()
        chains[cid] = s.sbi_chain(cid, datetime.now(UTC) - timedelta(hours=1), dest, attacker_ip=ip)
    # A customer's events share a key, so one partition, in order: no wait between them.
    with collecting_bus(a, (t.WITHDRAWAL_HOLDS,)) as bus:
        bus.send(m for chain in chains.values() for m in chain)
    wids = {f"{cid}-wd-attack": cid for cid in customers.values()}
    held = lambda: {x["hold_status"] for x in decisions(pair[:1], list(wids))} == {"held"}  # noqa: E731
    wait("every customer's hold in the registry", held)
    # Each worker reports lag for its partitions once it has committed offsets there.
    mine, _ = wait("each worker's partitions", lambda: _split(pair))
    return {
        w: (cid, 0 if partition_for(cid.encode(), a.partitions) in mine else 1)
        for w, cid in wids.items()
    }


def _split(pair: tuple[Settings, Settings]) -> tuple[set[int], set[int]] | None:
    mine, theirs = (consumed_partitions(st) for st in pair)
    everything = set(range(pair[0].partitions))
    if mine and theirs and not mine & theirs and mine | theirs == everything:
        return mine, theirs
    return None


def sign_in(browser: Any, pair: tuple[Settings, Settings], on: Settings) -> tuple[Any, Any]:
    """A browser signed in on worker `on`, allowed to reach only the two workers."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    local = tuple(base(st) + "/" for st in pair)
    context.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith(local) else route.abort(),
    )
    page = context.new_page()
    page.goto(base(on) + "/console")
    page.fill("input[name=user]", "ana")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(base(on) + "/console")
    return context, page


def decisions(pair: tuple[Settings, ...], wids: list[str]) -> list[dict[str, Any]]:
    """Each worker's decision API answers for `wids`, A's then B's."""
    answers = []
    for st in pair:
        for wid in wids:
            status, body = get(f"{base(st)}/api/withdrawals/{wid}/decision", TOKEN)
            assert status == 200, (st.web_port, wid, body)
            answers.append(json.loads(body))
    return answers


def test_the_workers_advertise_distinct_urls_and_split_the_customers(
    pair: tuple[Settings, Settings], owned: dict[str, tuple[str, int]]
) -> None:
    assert pair[0].advertised_url != pair[1].advertised_url
    owners = [owner for _, owner in owned.values()]
    assert sorted(set(owners)) == [0, 1]
    for st in pair:
        _, body = get(base(st) + "/ready")
        assert json.loads(body)["assigned_partitions"] > 0


def test_the_decision_api_answers_alike_from_either_worker_while_held(
    pair: tuple[Settings, Settings], owned: dict[str, tuple[str, int]]
) -> None:
    wids = sorted(owned)
    answers = decisions(pair, wids)
    from_a, from_b = answers[: len(wids)], answers[len(wids) :]
    assert from_a == from_b
    assert {(x["decision"], x["hold_status"]) for x in from_a} == {("hold", "held")}
    assert [x["customer_id"] for x in from_a] == [owned[w][0] for w in wids]


def test_a_fraud_confirmation_on_either_worker_reaches_the_owner_and_both_show_it(
    pair: tuple[Settings, Settings], owned: dict[str, tuple[str, int]], browser: Any
) -> None:
    confirmed = []
    for console, served_by in ((0, pair[0]), (1, pair[1])):
        # A hold of a customer the *other* worker owns, confirmed on this one's console (a
        # release of the chain's 9,500,000 JPY takes four eyes, in its case: test_case_workflow).
        wid = next(w for w, (_, owner) in sorted(owned.items()) if owner != console)
        context, page = sign_in(browser, pair, served_by)
        row = page.locator(f"[id='hold-{wid}']")
        row.wait_for(timeout=20_000)
        # Refused (a wrong CSRF token) on the owner, whose page of the customer it shows.
        cid, _ = owned[wid]
        stale = page.request.post(
            f"{base(served_by)}/customers/{cid}/actions",
            form={"action": "confirm_fraud", "withdrawal_id": wid, "note": NOTE, "csrf": "0"},
            max_redirects=0,
        )
        assert stale.status == 403 and stale.headers["content-type"].startswith("text/html")
        assert "missing or wrong CSRF token" in stale.text()
        assert f'name="withdrawal_id" value="{wid}"' in stale.text()  # the owner's state
        row.locator("input[name=note]").fill(NOTE)
        with page.expect_response(lambda r: r.url.endswith("/actions")) as posted:
            row.locator("button[value=confirm_fraud]").click()
        # The owner accepted it (a worker without the customer's state answers 400) and
        # the console returns to the overview, from which the hold then leaves.
        assert posted.value.status == 303, posted.value.text()
        page.wait_for_url(base(served_by) + "/console")
        page.locator(f"[id='hold-{wid}']").wait_for(state="detached", timeout=20_000)
        context.close()
        confirmed.append(wid)

    # Each customer's page, asked of either worker, is read from the owner's table: it
    # lists the case decision the owner applied, and the registry state as confirmed.
    context, page = sign_in(browser, pair, pair[0])
    for wid in confirmed:
        cid, _ = owned[wid]
        for st in pair:
            applied = page.locator("tr", has_text=f"case decision confirm_fraud on {wid} by ana")

            def listed(url: str = f"{base(st)}/customers/{cid}", rows: Any = applied) -> int:
                page.goto(url)
                return int(rows.count())

            wait(f"{cid}'s page on :{st.web_port} to list the confirmation", listed, 20)
            assert NOTE in applied.first.inner_text()
            cell = page.locator(f"[data-wid='{wid}']")
            page.wait_for_function(
                "el => el.textContent.startsWith('confirmed_fraud')", arg=cell.element_handle()
            )
    context.close()

    wids = sorted(owned)
    answers = decisions(pair, wids)
    from_a, from_b = answers[: len(wids)], answers[len(wids) :]
    assert from_a == from_b
    for wid, answer in zip(wids, from_a, strict=True):
        expected = ("hold", "confirmed_fraud") if wid in confirmed else ("hold", "held")
        assert (answer["decision"], answer["hold_status"]) == expected, wid
