"""`withdrawguard demo` and `withdrawguard simulate --kafka` against a real worker; the
demo's cases (opened by the worker's case intake, three worked by its people) in Redis."""

from __future__ import annotations

import argparse
import asyncio
import io
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from tests.integration.harness import Bus, Worker, env_of
from withdrawguard import cli
from withdrawguard.adapters.case_store import RedisCaseStore, case_prefix
from withdrawguard.adapters.redis_connection import async_redis
from withdrawguard.auth.users import load_users, verify_password
from withdrawguard.cases.case import Case
from withdrawguard.settings import Settings
from withdrawguard.sim import demo
from withdrawguard.sim.playbooks import PLAYBOOKS

pytestmark = pytest.mark.integration


def test_demo_shows_every_attack_held_with_reasons_a_denial_and_leaves_worked_cases(
    settings: Settings, worker: Worker, tmp_path: Path
) -> None:
    users = tmp_path / "users.json"
    args = argparse.Namespace(customers=120, days=24, attacks=14, seconds=15, seed=5)
    out = io.StringIO()
    demo_settings = replace(settings, users_file=users)
    assert demo.run(args, demo_settings, out) == 0, out.getvalue()
    text = out.getvalue()
    for playbook in PLAYBOOKS:
        assert f"\n{playbook}-1" in text
    # customers as the console and `cases list` name them: with the run's prefix
    assert re.search(r"\nchain_2020-1 +d[0-9a-f]{6}-C\d{6} ", text), text
    assert "DEST_CHANGED_RECENTLY" in text
    assert "DESTINATION_SHARED" in text
    # the attacks that sold the victim's holdings (seed 5: every chain_2020 and patient
    # one) raised a sell-off alert; at the replay's speed it may come after the first
    # withdrawal's verdict (the demo's note says why), the other attacks sold nothing
    sold = {"chain_2020", "patient"}
    rows = [
        m
        for line in text.splitlines()
        if (m := re.match(r"([a-z_0-9]+)-[-\d]+ +\S+ +\d+/\d+ +\S+ +(\S+) ", line))
    ]
    assert len(rows) == 14, text
    for m in rows:
        assert m[2] in (("before", "after") if m[1] in sold else ("-",)), m[0]
    assert "LIQUIDATION" in text
    assert "DEVICE_SHARED" in text  # the device farm's rows
    # seed 5: victims deny notices of the attackers' changes; a denial before the first
    # withdrawal holds it as a confirmed-fraud destination, and raises its alert
    denied = [line for line in text.splitlines() if re.search(r" denied +[A-Z]", line)]
    assert denied, text
    assert any("CONFIRMED_FRAUD_DESTINATION" in line for line in denied), denied
    alerts = re.search(r"notices answered: (\d+) denials by victims \((\d+) customers", text)
    assert alerts is not None and int(alerts[1]) > 0 and int(alerts[2]) > 0, text
    # every answer went after its notice: the run's dead letters are its malformed messages
    dead = re.search(r"malformed messages sent: (\d+); dead-lettered from this run: (\d+)", text)
    assert dead is not None and dead[1] == dead[2], text
    assert "demo OK" in text  # and so no hold of the run without its case
    password = text.split("(user demo, password ")[1].split(";")[0]
    assert verify_password(password, load_users(users)["demo"].password)
    lead = text.split("supervisor demo-lead, password ")[1].split(")")[0]
    assert load_users(users)["demo-lead"].role == "supervisor"
    assert verify_password(lead, load_users(users)["demo-lead"].password)
    _check_worked_cases(demo_settings, text)


def _worked(text: str, what: str) -> str:
    [line] = [x for x in text.splitlines() if x.startswith("  case-") and what in x]
    return line.split()[0]


def _check_worked_cases(settings: Settings, text: str) -> None:
    """The three cases the demo worked are in the states it says, in their inboxes'
    listings (the closed one out of them), and the printed command lists them."""
    taken = _worked(text, "taken by demo, with a comment")
    proposed = _worked(text, "proposed by demo, waiting for a supervisor")
    closed = _worked(text, "closed as confirmed fraud by demo-lead")

    async def look() -> tuple[list[Case | None], list[list[str]]]:
        redis = async_redis(settings)
        store = RedisCaseStore(redis, case_prefix(settings.app_id))
        try:
            cases = [await store.case(c) for c in (taken, proposed, closed)]
            listed = [await store.inbox(c.inbox, 0, 10_000) for c in cases if c is not None]
            return cases, listed
        finally:
            await redis.aclose()  # type: ignore[attr-defined]

    (a, b, c), (in_a, in_b, in_c) = asyncio.run(look())
    assert a is not None and a.assignee == "demo" and a.comments == 1 and taken in in_a
    assert b is not None and b.assignee == "demo" and proposed in in_b
    [proposal] = b.proposals
    assert proposal.action == "release" and proposal.proposer == "demo"
    assert c is not None and c.closed and c.outcome == "confirmed_fraud" and closed not in in_c
    assert {h.fate for h in c.holds} == {"confirmed_fraud"}
    [command] = [x for x in text.splitlines() if f"cases list --inbox {a.inbox} " in x]
    argv = command.split("withdrawguard ", 1)[1].split()
    env = env_of(settings)
    listed = subprocess.run(
        [sys.executable, "-m", "withdrawguard", *argv],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert taken in listed.stdout


def test_simulate_produces_to_the_input_topics_and_writes_the_labels(
    bus: Bus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env_of(bus.settings).items():
        if name.startswith("WG_"):
            monkeypatch.setenv(name, value)
    labels = tmp_path / "labels.jsonl"
    args = ["simulate", "--kafka", "--labels", str(labels), "--customers", "50", "--days", "12"]
    args += ["--attacks", "2", "--playbooks", "chain_2020", "--id-prefix", "simk-", "--seed", "9"]
    assert cli.main(args) == 0
    wanted = {
        x["withdrawal_id"]: x
        for x in map(orjson.loads, labels.read_bytes().splitlines())
        if x["record"] == "withdrawal"
    }
    assert len(wanted) > 10

    def decided() -> dict[str, str]:
        got = {v["withdrawal_id"]: v["decision"] for v in bus.values("withdrawal-decisions")}
        return got if wanted.keys() <= got.keys() else {}

    verdicts = bus.wait_for("a verdict on every simulated withdrawal", decided, timeout=120)
    for wid, label in wanted.items():
        if label["truth"] == "attack":
            assert verdicts[wid] == "hold", wid
