"""`withdrawguard demo` and `withdrawguard simulate --kafka` against a real worker."""

from __future__ import annotations

import argparse
import io
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from tests.integration.harness import Bus, Worker, env_of
from withdrawguard import cli
from withdrawguard.auth.users import load_users, verify_password
from withdrawguard.settings import Settings
from withdrawguard.sim import demo
from withdrawguard.sim.playbooks import PLAYBOOKS

pytestmark = pytest.mark.integration


def test_demo_shows_every_attack_held_with_reasons_and_the_demo_user(
    settings: Settings, worker: Worker, tmp_path: Path
) -> None:
    users = tmp_path / "users.json"
    args = argparse.Namespace(customers=120, days=24, attacks=12, seconds=15, seed=5)
    out = io.StringIO()
    assert demo.run(args, replace(settings, users_file=users), out) == 0, out.getvalue()
    text = out.getvalue()
    for playbook in PLAYBOOKS:
        assert f"\n{playbook}-1" in text
    assert "DEST_CHANGED_RECENTLY" in text
    assert "DESTINATION_SHARED" in text
    assert "demo OK" in text
    password = text.split("(user demo, password ")[1].split(")")[0]
    assert verify_password(password, load_users(users)["demo"].password)


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
