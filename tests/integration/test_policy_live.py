"""Policy as data with two workers of one group, on the real broker (docs/policy.md).

Versions are changed the way an admin changes them, with `withdrawguard policy`, while
both workers run: refused when invalid or not by an admin; a shadow version decides
beside the live one and holds nothing; a promotion is applied by both workers without a
restart, and a version published live in the middle of a stream switches each partition
once, every verdict naming the version whose decision it carries; a version no worker
can load leaves both on theirs, counted, with the alert's gauge up; every change is on
the audit topic. The deployment's topics and groups go when every test passed.

The candidate holds every withdrawal (`hold_score = 0`), the default allows the honest
ones sent here, so a verdict's decision shows which version made it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.harness import (
    Bus,
    Worker,
    _free_port,
    collecting_bus,
    env_of,
    isolated_settings,
    unique,
)
from tests.integration.web_client import add_users, base, get, wait
from withdrawguard.contract import topics as t
from withdrawguard.engine.decide import Engine
from withdrawguard.engine.policy import load_policy, parse_policy
from withdrawguard.policy.versions import Pointer, PolicyVersion, pointer_record, version_record
from withdrawguard.settings import Settings
from withdrawguard.sim import scenarios as s
from withdrawguard.streaming.detect.placement import partition_for

pytestmark = pytest.mark.integration

HOLD_ALL = "[decision]\nhold_score = 0\n"
STRICT_ID = Engine(parse_policy(HOLD_ALL, "test")).policy_id
DEFAULT_ID = Engine(load_policy()).policy_id
TOKEN = uuid.uuid4().hex
PASSWORDS = {"ada": "admin-pass-1", "ana": "analyst-pass-1"}


@dataclass
class Deployment:
    workers: tuple[Settings, Settings]
    procs: tuple[Worker, Worker]
    dir: Path
    bus: Bus

    def cli(self, *args: str, user: str = "ada", password: str | None = None) -> Any:
        secret = self.dir / f"pw-{uuid.uuid4().hex[:6]}"
        secret.write_text(password if password is not None else PASSWORDS.get(user, "x"))
        env = env_of(replace(self.workers[0], admin_password_file=secret))
        command = [sys.executable, "-m", "withdrawguard", "policy", *args]
        if args[0] in ("publish", "shadow", "promote", "rollback"):
            command += ["--user", user]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    def policy_file(self, text: str) -> str:
        path = self.dir / f"policy-{uuid.uuid4().hex[:6]}.toml"
        path.write_text(text)
        return str(path)


def samples(settings: Settings, name: str) -> list[tuple[dict[str, str], float]]:
    _, text = get(base(settings) + "/metrics")
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
        if sample.name == name
    ]


def running(settings: Settings, role: str) -> str | None:
    found = [
        labels["version"]
        for labels, value in samples(settings, "withdrawguard_policy_version")
        if labels.get("role") == role and value == 1
    ]
    return found[0] if len(found) == 1 else None


def both_run(d: Deployment, live: str, shadow: str) -> None:
    wait(
        f"both workers on live {live}, shadow {shadow}",
        lambda: all(
            running(w, "live") == live and running(w, "shadow") == shadow for w in d.workers
        ),
    )


def customers(partitions: int, per_partition: int = 1) -> list[str]:
    """Customer ids covering every partition `per_partition` times."""
    found: dict[int, list[str]] = {p: [] for p in range(partitions)}
    while any(len(v) < per_partition for v in found.values()):
        cid = unique("pol")
        slot = found[partition_for(cid.encode(), partitions)]
        if len(slot) < per_partition:
            slot.append(cid)
    return [c for v in found.values() for c in v]


def send_honest(bus: Bus, cids: list[str]) -> list[str]:
    now = datetime.now(UTC)
    bus.send(m for cid in cids for m in s.honest_withdrawal(cid, now))
    return [f"{cid}-wd-today" for cid in cids]


def verdicts_of(bus: Bus, wids: list[str]) -> dict[str, dict[str, Any]]:
    wanted = set(wids)
    return {
        v["withdrawal_id"]: v
        for v in bus.values(t.WITHDRAWAL_DECISIONS)
        if v["withdrawal_id"] in wanted
    }


def version_of(verdict: dict[str, Any]) -> str:
    return str(verdict["detector_version"]).rsplit(".", 1)[1]


@pytest.fixture(scope="module")
def d(services: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("policy-live")
    (root / "tokens").write_text(TOKEN + "\n")
    a = isolated_settings(
        services,
        "pol",
        root / "a",
        users_file=root / "users.json",
        service_tokens_file=root / "tokens",
    )
    b = replace(a, data_dir=root / "b", web_port=_free_port())
    add_users(a, {"ada": ("admin", PASSWORDS["ada"]), "ana": ("analyst", PASSWORDS["ana"])})
    logs = tmp_path_factory.mktemp("policy-live-logs")
    procs = (Worker(a, logs / "a.log"), Worker(b, logs / "b.log"))
    outputs = (
        t.WITHDRAWAL_DECISIONS,
        t.WITHDRAWAL_HOLDS,
        t.FRAUD_ALERTS,
        t.SHADOW_DECISIONS,
        t.POLICY_AUDIT,
    )
    procs[0].start()
    try:
        procs[1].start()
        wait("both workers ready", lambda: all(get(base(w) + "/ready")[0] == 200 for w in (a, b)))
        with collecting_bus(a, outputs) as bus:
            yield Deployment((a, b), procs, root, bus)
    finally:
        procs[1].stop()
        procs[0].stop()


def test_an_invalid_version_is_refused_and_only_an_admin_may_publish(d: Deployment) -> None:
    bad = d.cli("publish", d.policy_file("[decision]\nhold_scor = 1\n"), "--note", "typo")
    assert bad.returncode == 2
    assert "unknown policy key 'decision.hold_scor'" in bad.stderr
    analyst = d.cli("publish", d.policy_file(HOLD_ALL), "--note", "n", user="ana")
    assert analyst.returncode == 2 and "needs admin" in analyst.stderr
    wrong = d.cli("publish", d.policy_file(HOLD_ALL), "--note", "n", password="guess")
    assert wrong.returncode == 2 and "wrong user name or password" in wrong.stderr
    listed = d.cli("list")
    assert listed.returncode == 0 and "no policy version published yet" in listed.stdout
    assert all(running(w, "live") == DEFAULT_ID for w in d.workers)


def test_a_shadow_version_holds_nothing_and_its_disagreements_are_counted(d: Deployment) -> None:
    published = d.cli("publish", d.policy_file(HOLD_ALL), "--shadow", "--note", "try hold-all")
    assert published.returncode == 0, published.stderr
    both_run(d, DEFAULT_ID, STRICT_ID)
    wids = send_honest(d.bus, customers(d.workers[0].partitions))
    verdicts = d.bus.wait_for(
        "the live verdicts",
        lambda: len(verdicts_of(d.bus, wids)) == len(wids) and verdicts_of(d.bus, wids),
        timeout=45,
    )
    assert {v["decision"] for v in verdicts.values()} == {"allow"}
    assert {version_of(v) for v in verdicts.values()} == {DEFAULT_ID}

    def shadowed() -> dict[str, dict[str, Any]]:
        found = {
            v["withdrawal_id"]: v
            for v in d.bus.values(t.SHADOW_DECISIONS)
            if v["withdrawal_id"] in wids
        }
        return found if len(found) == len(wids) else {}

    shadow = d.bus.wait_for("the shadow's comparisons", shadowed, timeout=30)
    for wid, c in shadow.items():
        assert c["outcome"] == "would_hold", c
        assert (c["live"]["decision"], c["shadow"]["decision"]) == ("allow", "hold")
        assert c["shadow"]["version"].endswith(STRICT_ID) and c["live"]["version"].endswith(
            DEFAULT_ID
        )
        assert c["customer_id"] == wid.removesuffix("-wd-today")
    # Nothing of the shadow reaches holds, alerts (hence notifications) or the registry.
    d.bus.wait_idle()
    assert not [h for h in d.bus.values(t.WITHDRAWAL_HOLDS) if h["withdrawal_id"] in wids]
    assert not [a for a in d.bus.values(t.FRAUD_ALERTS) if a.get("withdrawal_id") in wids]
    for wid in wids:
        status, body = get(f"{base(d.workers[1])}/api/withdrawals/{wid}/decision", TOKEN)
        assert status == 200 and json.loads(body)["decision"] == "allow", body
    counted = sum(
        value
        for w in d.workers
        for labels, value in samples(w, "withdrawguard_shadow_verdicts_total")
        if labels["outcome"] == "would_hold"
    )
    by_reason = sum(
        value
        for w in d.workers
        for labels, value in samples(w, "withdrawguard_shadow_disagreements_total")
        if labels == {"outcome": "would_hold", "reason": "SCORE_ONLY"}
    )
    assert counted >= len(wids) and by_reason >= len(wids)


def test_a_promoted_version_is_applied_by_both_workers_without_a_restart(d: Deployment) -> None:
    pids = [w.proc.pid for w in d.procs if w.proc is not None]
    promoted = d.cli("promote", "--note", "the shadow looks right")
    assert promoted.returncode == 0, promoted.stderr
    both_run(d, STRICT_ID, "none")
    wids = send_honest(d.bus, customers(d.workers[0].partitions))
    verdicts = d.bus.wait_for(
        "the verdicts",
        lambda: len(verdicts_of(d.bus, wids)) == len(wids) and verdicts_of(d.bus, wids),
        timeout=45,
    )
    assert {(v["decision"], version_of(v)) for v in verdicts.values()} == {("hold", STRICT_ID)}
    assert [w.proc.pid for w in d.procs if w.proc is not None and w.proc.poll() is None] == pids


def test_a_version_published_mid_stream_switches_each_partition_once(d: Deployment) -> None:
    partitions = d.workers[0].partitions
    sent: list[str] = []
    switched = threading.Event()

    def stream() -> None:  # three customers (three partitions) every 0.2 s until after the switch
        while not switched.is_set():
            sent.extend(send_honest(d.bus, customers(partitions)[:3]))
            time.sleep(0.2)
        for _ in range(3):
            sent.extend(send_honest(d.bus, customers(partitions)))

    sender = threading.Thread(target=stream)
    sender.start()
    try:
        time.sleep(1.5)
        back = d.cli(
            "publish", d.policy_file("# the packaged default\n"), "--note", "back to default"
        )
        assert back.returncode == 0, back.stderr
        both_run(d, DEFAULT_ID, "none")
    finally:
        switched.set()
        sender.join()
    after = send_honest(d.bus, customers(partitions))
    wids = sent + after
    verdicts = d.bus.wait_for(
        "every verdict",
        lambda: len(verdicts_of(d.bus, wids)) == len(wids) and verdicts_of(d.bus, wids),
        timeout=60,
    )
    # The stream ran across the switch: verdicts of both versions.
    assert {version_of(verdicts[w]) for w in sent} == {STRICT_ID, DEFAULT_ID}
    # Each verdict carries the decision of the version it names ...
    for v in verdicts.values():
        assert v["decision"] == ("hold" if version_of(v) == STRICT_ID else "allow"), v
    # ... the events sent once both workers ran the new version were decided by it ...
    assert {version_of(verdicts[w]) for w in after} == {DEFAULT_ID}
    # ... and each input partition switched once, at a point: in the order its events
    # were sent (and so decided), no verdict of the old version after one of the new.
    by_partition: dict[int, list[str]] = {}
    for wid in wids:
        cid = wid.removesuffix("-wd-today")
        partition = partition_for(cid.encode(), d.workers[0].partitions)
        by_partition.setdefault(partition, []).append(version_of(verdicts[wid]))
    for versions in by_partition.values():
        switched = versions.index(DEFAULT_ID)
        assert set(versions[switched:]) == {DEFAULT_ID}, versions


def test_a_version_no_worker_can_load_leaves_both_on_theirs_and_raises_the_alert(
    d: Deployment,
) -> None:
    # Written past the CLI's checks (as a newer release, or a hand, might): a text whose
    # fingerprint is not its id.
    forged = PolicyVersion("0badc0de", HOLD_ALL, "someone", "forged", int(time.time() * 1000))
    a = d.workers[0]
    producer = KafkaProducer(bootstrap_servers=a.bootstrap_servers, acks="all")
    topic = t.TopicNames(a).name(t.POLICIES)
    for key, value in (
        version_record(forged),
        pointer_record(Pointer("live", forged.id, "someone", "forged", forged.published_at)),
    ):
        producer.send(topic, key=key, value=value).get(timeout=30)
    producer.close()

    def failing(w: Settings) -> bool:
        gauge = [
            v
            for labels, v in samples(w, "withdrawguard_policy_load_failing")
            if labels["role"] == "live"
        ]
        failures = [
            v
            for labels, v in samples(w, "withdrawguard_policy_load_failures_total")
            if labels.get("version") == forged.id
        ]
        return gauge == [1.0] and failures == [1.0]

    wait(
        "both workers report the version they could not load",
        lambda: all(failing(w) for w in d.workers),
    )
    assert all(running(w, "live") == DEFAULT_ID for w in d.workers)
    wids = send_honest(d.bus, customers(a.partitions))
    verdicts = d.bus.wait_for(
        "the verdicts",
        lambda: len(verdicts_of(d.bus, wids)) == len(wids) and verdicts_of(d.bus, wids),
        timeout=45,
    )
    assert {(v["decision"], version_of(v)) for v in verdicts.values()} == {("allow", DEFAULT_ID)}
    assert all("not loaded" in w.log_path.read_text() for w in d.procs)


def test_every_change_is_on_the_audit_topic_with_actor_note_and_versions(d: Deployment) -> None:
    audit = d.bus.wait_for(
        "three audit records",
        lambda: len(d.bus.values(t.POLICY_AUDIT)) >= 3 and d.bus.values(t.POLICY_AUDIT),
    )
    assert [(r["action"], r["role"], r["version"], r["previous"], r["actor"]) for r in audit] == [
        ("publish", "shadow", STRICT_ID, None, "ada"),
        ("promote", "live", STRICT_ID, None, "ada"),
        ("publish", "live", DEFAULT_ID, STRICT_ID, "ada"),
    ]
    assert [r["note"] for r in audit] == [
        "try hold-all",
        "the shadow looks right",
        "back to default",
    ]
    read = d.cli("audit", "--json")
    assert read.returncode == 0, read.stderr
    shown = [json.loads(line) for line in read.stdout.splitlines()]
    assert [(r["action"], r["role"], r["version"], r["actor"], r["note"]) for r in shown] == [
        (r["action"], r["role"], r["version"], r["actor"], r["note"]) for r in audit
    ]
    last = d.cli("audit", "--last", "1")
    assert last.returncode == 0, last.stderr
    assert last.stdout.splitlines() == [
        f"{shown[-1]['when']}  publish     live    {STRICT_ID} -> {DEFAULT_ID}"
        "  ada: back to default"
    ]
