"""One history through the live worker and through `withdrawguard scan --kafka` over the
same deployment's input topics: the same withdrawals are held for the same reasons."""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition

from tests.integration.harness import ROOT, Bus, env_of, unique
from tests.unit.test_engine_suppressions import PHONE_REASONS, new_phone, withdraw
from withdrawguard.contract import topics as t
from withdrawguard.settings import Settings
from withdrawguard.sim import scenarios as s

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
IGNORED = {"LATE_EVIDENCE", "RELEASED"}


def fresh_destination() -> dict[str, str]:
    return {
        "bank_code": "0009",
        "branch_code": "222",
        "account_number": str(random.randint(10**6, 10**7 - 1)),
    }


def fresh_ip() -> str:
    return f"198.18.{random.randint(0, 255)}.{random.randint(1, 254)}"


def history() -> tuple[list[s.Message], list[s.Message], set[str]]:
    """(everything but the final withdrawals, those withdrawals, the customers)."""
    before: list[s.Message] = []
    after: list[s.Message] = []
    customers: set[str] = set()

    def add(msgs: list[s.Message]) -> None:
        customers.add(msgs[0][1]["customer_id"])
        before.extend(msgs[:-1])
        after.extend(msgs[-1:])

    for hours in (1, 3):  # the 2020 chain, twice
        add(
            s.sbi_chain(
                unique("victim"),
                NOW - timedelta(hours=hours),
                fresh_destination(),
                attacker_ip=fresh_ip(),
            )
        )
    for _ in range(2):
        add(s.honest_withdrawal(unique("honest"), NOW - timedelta(minutes=30)))
    # The chain with its withdrawal sent ahead of the rest: the worker may escalate it late.
    late = s.sbi_chain(
        unique("late"), NOW - timedelta(hours=5), fresh_destination(), attacker_ip=fresh_ip()
    )
    customers.add(late[0][1]["customer_id"])
    before[:0] = late[-1:]
    before += late[:-1]
    # Two customers setting one destination through non-online channels.
    shared = fresh_destination()
    for cid, channel in ((unique("mule-a"), "call_center"), (unique("mule-b"), "branch")):
        msgs = s.honest_history(cid, NOW)
        msgs.append(
            s.change(
                cid,
                f"{cid}-d",
                NOW - timedelta(days=3),
                "withdrawal_destination",
                channel,
                destination=shared,
            )
        )
        msgs.append(
            s.withdrawal(
                cid, f"{cid}-w", NOW - timedelta(hours=2), f"{cid}-wd", "50000", destination=shared
            )
        )
        add(msgs)
    # One IP failing into five customers within the hour, then cashing out of the last.
    stuffer, wave = fresh_ip(), [unique("stuffed") for _ in range(5)]
    t0 = NOW - timedelta(hours=6)
    for i, cid in enumerate(wave):
        before += s.honest_history(cid, NOW)
        before.append(
            s.login(cid, f"{cid}-x", t0 + timedelta(minutes=9 * i), success=False, ip=stuffer)
        )
        customers.add(cid)
    cid, dest, t1 = wave[-1], fresh_destination(), t0 + timedelta(hours=1)
    before += [
        s.login(cid, f"{cid}-in", t1, ip=stuffer, device="dev-bot"),
        s.change(
            cid,
            f"{cid}-d",
            t1 + timedelta(minutes=1),
            "withdrawal_destination",
            "call_center",
            ip=stuffer,
            destination=dest,
        ),
    ]
    after.append(
        s.withdrawal(
            cid,
            f"{cid}-w",
            t1 + timedelta(minutes=5),
            f"{cid}-wd",
            "300000",
            destination=dest,
            ip=stuffer,
            device="dev-bot",
        )
    )
    # One device signing in to four customers within 15 minutes (a device farm), each
    # from an IP of its own, then withdrawing from the first of them.
    farm, ring = unique("dev-farm"), [unique("farmed") for _ in range(4)]
    t2 = NOW - timedelta(hours=8)
    for i, cid in enumerate(ring):
        before += s.honest_history(cid, NOW)
        at = t2 + timedelta(minutes=5 * i)
        before.append(s.login(cid, f"{cid}-farm", at, ip=fresh_ip(), device=farm))
        customers.add(cid)
    cid = ring[0]
    after.append(
        s.withdrawal(
            cid,
            f"{cid}-w",
            t2 + timedelta(hours=1),
            f"{cid}-wd",
            "50000",
            destination=s.HOME_DEST,
            ip=fresh_ip(),
            device=farm,
        )
    )
    # A customer's new phone muted from a case: a withdrawal the suppression covers sent
    # ahead of it (the worker holds it, then releases it), one while it lasts, and the
    # final one after `until`, held again.
    cid, made = unique("muted"), NOW - timedelta(hours=3)
    until = made + timedelta(minutes=90)
    customers.add(cid)
    before += [
        *new_phone(cid, made - timedelta(hours=1)),
        withdraw(cid, 1, made + timedelta(minutes=10)),
        s.suppress(cid, f"{cid}-s", made, PHONE_REASONS, until, case_id=f"case-{cid}"),
        withdraw(cid, 2, made + timedelta(minutes=20)),
    ]
    after.append(withdraw(cid, 3, until + timedelta(minutes=1)))
    return before, after, customers


def streamed_holds(bus: Bus, customers: set[str]) -> dict[str, set[str]]:
    last: dict[str, dict[str, Any]] = {}
    for verdict in bus.values("withdrawal-decisions"):
        if verdict["customer_id"] in customers:
            last[verdict["withdrawal_id"]] = verdict
    return {
        wid: {r["code"] for r in v["reasons"]} - IGNORED
        for wid, v in last.items()
        if v["decision"] == "hold"
    }


def output_ends(settings: Settings) -> dict[TopicPartition, int]:
    names = t.TopicNames(settings)
    parts = [
        TopicPartition(names.name(spec.logical), p)
        for spec in t.SPECS
        if spec.role in (t.Role.OUTPUT, t.Role.INTERNAL)
        for p in range(settings.partitions)
    ]
    probe = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    try:
        return dict(probe.end_offsets(parts))
    finally:
        probe.close()


def test_scan_of_the_input_topics_holds_what_the_worker_held(
    bus: Bus, settings: Settings, tmp_path: Path
) -> None:
    before, after, customers = history()
    bus.send(before)
    bus.wait_idle()
    bus.send(after)
    bus.wait_idle()
    streamed = streamed_holds(bus, customers)
    # two victims, the late one, two mules, the stuffed customer, the muted one after
    # `until`, the farmed one
    assert len(streamed) == 8
    [farmed] = [codes for w, codes in streamed.items() if w.startswith("farmed-")]
    assert farmed == {"DEVICE_SHARED", "NEW_DEVICE"}
    [muted] = [w for w in streamed if w.startswith("muted-")]
    assert muted.endswith("-wd3")  # the two withdrawals the suppression covered are not held

    written_before = output_ends(settings)
    result = subprocess.run(
        [sys.executable, "-m", "withdrawguard", "scan", "--kafka", "--out", str(tmp_path)],
        env=env_of(settings),
        cwd=ROOT,
        capture_output=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert output_ends(settings) == written_before  # the scan wrote to no topic

    found: dict[str, set[str]] = {}
    for line in (tmp_path / "findings.jsonl").read_bytes().splitlines():
        finding = orjson.loads(line)
        if finding["customer_id"] in customers:
            found[finding["withdrawal_id"]] = {r["code"] for r in finding["reasons"]} - IGNORED
    assert found == streamed
    summary = orjson.loads((tmp_path / "summary.json").read_bytes())
    assert summary["events"]["valid"] >= len(before) + len(after)
    assert summary["inputs"] == sorted(t.TopicNames(settings).inputs())
