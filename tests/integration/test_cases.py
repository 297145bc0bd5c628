"""Case work on the real Kafka and Redis: a chain attack's hold opens a case in the right
inbox of a real worker; four eyes through `withdrawguard cases` until the worker
re-issues the verdict; many take-next calls from two service instances never claim the
same case; the case store rebuilt from the topic equals the live one."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest

from tests.integration.harness import ROOT, Bus, env_of, isolated_settings, unique
from tests.integration.test_detector import attacker, changed_four_days_ago, sold_off
from tests.integration.web_client import add_users
from withdrawguard.adapters.case_store import RedisCaseStore, case_prefix
from withdrawguard.adapters.kafka_io import kafka_produce, read_topic
from withdrawguard.adapters.redis_connection import async_redis
from withdrawguard.cases import codec
from withdrawguard.cases.case import Case
from withdrawguard.cases.events import Trigger
from withdrawguard.cases.people import Actor
from withdrawguard.casework.config import load_case_config
from withdrawguard.casework.news import verdict_trigger
from withdrawguard.casework.service import CaseService, CaseTopics
from withdrawguard.casework.sla import sla_report
from withdrawguard.contract import topics as t
from withdrawguard.settings import Settings
from withdrawguard.sim import scenarios as s

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
CONFIG = load_case_config(None)
PASSWORD = "correct horse battery staple"
X = TypeVar("X")


def _run(settings: Settings, step: Callable[[RedisCaseStore], Awaitable[X]]) -> X:
    async def go() -> X:
        redis = async_redis(settings)
        try:
            return await step(RedisCaseStore(redis, case_prefix(settings.app_id)))
        finally:
            await redis.aclose()  # type: ignore[attr-defined]

    return asyncio.run(go())


def _cases_of(settings: Settings, customer: str) -> list[Case]:
    return _run(settings, lambda store: store.cases_of(customer))


def _cli(
    settings: Settings, user: str, *args: str, secret: Path
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "withdrawguard", "cases", *args, "--user", user]
    return subprocess.run(
        [*command, "--password-file", str(secret)],
        env=env_of(settings),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def people(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, Path]]:
    """The session's deployment with a users file: sam and bea, supervisors."""
    where = tmp_path_factory.mktemp("cases")
    with_users = replace(settings, users_file=where / "users.json")
    add_users(with_users, {"sam": ("supervisor", PASSWORD), "bea": ("supervisor", PASSWORD)})
    secret = where / "password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    return with_users, secret


def test_chain_attack_opens_a_case_and_four_eyes_release_it_through_the_cli(
    bus: Bus, people: tuple[Settings, Path], tmp_path: Path
) -> None:
    settings, secret = people
    cid = unique("case")
    ip, dest = attacker()
    chain = s.sbi_chain(cid, NOW - timedelta(hours=1), dest, attacker_ip=ip)
    last = dict(chain[-1][1])
    last.update(amount="5000000", available_balance="5200000")  # a ¥5,000,000 drain
    bus.send(chain[:-1])
    bus.wait_idle()
    bus.send([(chain[-1][0], last)])
    wid = f"{cid}-wd-attack"
    [verdict] = bus.wait_for(
        "the hold verdict", lambda: bus.values("withdrawal-decisions", withdrawal_id=wid)
    )
    assert verdict["decision"] == "hold"
    [case] = bus.wait_for("the case", lambda: _cases_of(settings, cid), timeout=60)
    news = verdict_trigger(verdict)
    assert news is not None
    assert case.inbox == CONFIG.inboxes.route(news[1]).name
    assert case.inbox in ("critical", "large-withdrawals")  # by the verdict's severity
    assert [(h.hold_id, h.amount, h.fate) for h in case.holds] == [
        (f"hold-{wid}", Decimal(5_000_000), "held")
    ]

    def cli(user: str, *args: str) -> subprocess.CompletedProcess[str]:
        return _cli(settings, user, *args, secret=secret)

    took = cli("sam", "take", "--inbox", case.inbox)
    assert took.returncode == 0 and case.case_id in took.stdout, took.stderr
    assert cli("sam", "comment", case.case_id, "--note", "called the customer").returncode == 0
    proposed = cli("sam", "release", case.case_id, f"hold-{wid}", "--note", "verified by call")
    assert proposed.returncode == 0, proposed.stderr
    proposal = proposed.stdout.split("(proposal ")[1].split(")")[0]
    own = cli("sam", "approve", case.case_id, proposal)
    assert own.returncode == 2 and "403" in own.stderr and "second person" in own.stderr
    approved = cli("bea", "approve", case.case_id, proposal, "--note", "agreed")
    assert approved.returncode == 0, approved.stderr
    assert "1 case decision(s) sent" in approved.stdout

    def released() -> list[dict[str, Any]]:
        return [
            v
            for v in bus.values("withdrawal-decisions", withdrawal_id=wid)
            if v["decision"] == "allow" and "RELEASED" in {r["code"] for r in v["reasons"]}
        ]

    bus.wait_for("the verdict re-issued as released", released, timeout=60)
    bus.wait_for(
        "the hold released",
        lambda: bus.values("withdrawal-holds", withdrawal_id=wid, status="released"),
    )
    closed = cli("sam", "close", case.case_id, "false_positive", "--note", "the customer's own")
    assert closed.returncode == 0, closed.stderr
    out_json, out_html = tmp_path / "case.json", tmp_path / "case.html"
    exported = cli("bea", "export", case.case_id, "--json", str(out_json), "--html", str(out_html))
    assert exported.returncode == 0, exported.stderr
    kinds = [e["kind"] for e in orjson.loads(out_json.read_bytes())["events"]]
    for kind in (
        "opened",
        "claimed",
        "commented",
        "release_proposed",
        "release_approved",
        "closed",
    ):
        assert kind in kinds
    page = out_html.read_text(encoding="utf-8")
    assert "verified by call" in page and "bea" in page and "release_approved" in page


def test_refusals_through_the_cli_say_why_and_exit_non_zero(people: tuple[Settings, Path]) -> None:
    settings, secret = people
    missing = _cli(settings, "sam", "show", "case-nowhere", secret=secret)
    assert missing.returncode == 2 and "404" in missing.stderr
    wrong = secret.with_name("wrong")
    wrong.write_text("nope\n", encoding="utf-8")
    refused = _cli(settings, "sam", "list", secret=wrong)
    assert refused.returncode == 2 and "wrong user name or password" in refused.stderr


# ------------------------------------------------------------ two services, one store


@pytest.fixture(scope="module")
def deployment(services: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A deployment of its own (topics, Redis prefix) and no worker: only services."""
    return isolated_settings(services, "cases", tmp_path_factory.mktemp("cases-deployment"))


def _news(n: int) -> Trigger:
    return Trigger(
        kind="hold",
        ref_id=f"hold-w{n}",
        severity="high",
        reason_codes=("DRAIN",),
        withdrawal_id=f"w{n}",
        amount=Decimal(50_000 + n),
        currency="JPY",
        hold_status="held",
    )


async def _with_service(settings: Settings, step: Callable[[CaseService], Awaitable[X]]) -> X:
    """`step` with a case service of its own connections (Redis, a Kafka producer)."""
    names = t.TopicNames(settings)
    topics = CaseTopics(names.name(t.CASE_EVENTS), names.name(t.CASE_DECISIONS))
    redis = async_redis(settings)
    try:
        async with kafka_produce(settings) as produce:
            store = RedisCaseStore(redis, case_prefix(settings.app_id))
            service = CaseService(store, produce, topics, CONFIG, clock=lambda: datetime.now(UTC))
            return await step(service)
    finally:
        await redis.aclose()  # type: ignore[attr-defined]


def test_parallel_take_next_on_two_services_never_claims_the_same_case(
    deployment: Settings,
) -> None:
    # Enough cases that the services overlap for a good while: one service's first
    # write (its producer's first metadata fetch) can take a few hundred ms under load.
    count = 160

    async def open_cases(service: CaseService) -> None:
        for start in range(0, count, 8):  # 8 at a time: the Redis pool has its bound
            ns = range(start, min(start + 8, count))
            await asyncio.gather(*(service.intake(f"cust-{n}", _news(n)) for n in ns))

    asyncio.run(_with_service(deployment, open_cases))
    claimed: list[list[str]] = [[], []]
    # Both services connected before either takes: under load one could otherwise claim
    # them all before the other has started.
    ready = threading.Barrier(2, timeout=60)

    def worker(i: int) -> None:
        async def take(service: CaseService) -> None:
            people = [Actor(f"analyst-{i}-{k}", "analyst") for k in range(8)]
            await asyncio.to_thread(ready.wait)

            async def one(actor: Actor) -> None:
                while (case := await service.take_next(actor)) is not None:
                    claimed[i].append(case.case_id)

            await asyncio.gather(*(one(p) for p in people))

        asyncio.run(_with_service(deployment, take))

    threads = [threading.Thread(target=worker, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    every = claimed[0] + claimed[1]
    assert len(every) == len(set(every)) == count, (len(every), len(set(every)))
    assert claimed[0] and claimed[1]  # both services took some


def _snapshot(settings: Settings, prefix: str | None = None) -> dict[str, Any]:
    """Every case-store key (locks aside) and its content."""

    async def dump(store: RedisCaseStore) -> dict[str, Any]:
        redis = store._redis  # noqa: SLF001 - the test reads the store's own connection
        found: dict[str, Any] = {}
        async for raw in redis.scan_iter(match=f"{prefix or store.keys.prefix}*", count=1000):
            key = raw.decode()
            kind = (await redis.type(key)).decode()
            if ":lock:" in key:
                continue
            if kind == "list":
                found[key] = await redis.lrange(key, 0, -1)
            elif kind == "set":
                found[key] = sorted(await redis.smembers(key))
            elif kind == "zset":
                found[key] = await redis.zrange(key, 0, -1, withscores=True)
            else:
                found[key] = await redis.hgetall(key)
        return found

    return _run(settings, dump)


def test_the_store_rebuilt_from_the_topic_equals_the_live_one(
    deployment: Settings, tmp_path: Path
) -> None:
    async def more(service: CaseService) -> None:  # a few changes besides the claims
        case = await service.take_next(Actor("sue", "supervisor"))
        if case is None:
            await service.intake("cust-extra", _news(999))

    asyncio.run(_with_service(deployment, more))
    live = _snapshot(deployment)
    assert any(":ev:" in k for k in live)
    users = tmp_path / "users.json"
    settings = replace(deployment, users_file=users)
    add_users(settings, {"sue": ("supervisor", PASSWORD)})
    secret = tmp_path / "password"
    secret.write_text(PASSWORD, encoding="utf-8")
    rebuilt = _cli(settings, "sue", "rebuild", secret=secret)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "skipped 0" in rebuilt.stdout
    assert _snapshot(deployment) == live


def test_the_workers_store_equals_a_fold_of_its_topic(
    bus: Bus, people: tuple[Settings, Path]
) -> None:
    """What the worker's writers and sinks made equals a fresh fold of case-events into
    another prefix (run after the tests above have written cases)."""
    settings, _ = people
    bus.wait_idle()
    names = t.TopicNames(settings)
    live_prefix = case_prefix(settings.app_id)
    other = live_prefix.replace(":case:", ":case-rebuilt:")

    async def fold(store: RedisCaseStore) -> None:
        fresh = RedisCaseStore(store._redis, other)  # noqa: SLF001 - the same connection
        await fresh.clear()
        async for raw in read_topic(settings, names.name(t.CASE_EVENTS)):
            await fresh.apply([codec.decode_bytes(raw)])

    def settled() -> bool:
        live = _snapshot(settings)
        _run(settings, fold)
        rebuilt = {k.replace(other, live_prefix): v for k, v in _snapshot(settings, other).items()}
        return bool(live) and rebuilt == live

    assert bus.wait_for("the store to equal the fold of the topic", settled, timeout=60)


def test_a_lock_is_released_only_by_its_owner_and_lapses_by_itself(deployment: Settings) -> None:
    async def locks(store: RedisCaseStore) -> tuple[Any, ...]:
        mine = await store.lock("customer:lock-test", 300)
        theirs = await store.lock("customer:lock-test", 300)
        stolen = await store.unlock("customer:lock-test", "not-the-token")
        assert mine is not None
        await asyncio.sleep(0.4)
        after = await store.lock("customer:lock-test", 10_000)  # lapsed: someone else's now
        late = await store.unlock("customer:lock-test", mine)  # the first owner, too late
        assert after is not None
        released = await store.unlock("customer:lock-test", after)
        return theirs, stolen, late, released

    assert _run(deployment, locks) == (None, False, False, True)


def test_a_case_past_its_one_minute_sla_counts_past_due_in_its_inbox(
    deployment: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "inboxes.toml"
    path.write_text(
        'default = "urgent"\n\n[[inbox]]\nname = "urgent"\ndescription = "One minute."\n'
        "sla_minutes = 1\n",
        encoding="utf-8",
    )
    config = load_case_config(path)
    opened = datetime.now(UTC).replace(microsecond=0)
    names = t.TopicNames(deployment)
    topics = CaseTopics(names.name(t.CASE_EVENTS), names.name(t.CASE_DECISIONS))

    async def go() -> list[tuple[int, int]]:
        redis = async_redis(deployment)
        try:
            async with kafka_produce(deployment) as produce:
                store = RedisCaseStore(redis, case_prefix(deployment.app_id))
                service = CaseService(store, produce, topics, config, clock=lambda: opened)
                await service.intake(unique("sla-cust"), _news(900))
                return [
                    (await sla_report(store, config.inboxes, opened + timedelta(seconds=s)))[
                        "urgent"
                    ]
                    for s in (59, 61)
                ]
        finally:
            await redis.aclose()  # type: ignore[attr-defined]

    within, past = asyncio.run(go())
    assert within == (1, 0)
    assert past == (1, 1)  # the gauge withdrawguard_cases_past_due{inbox="urgent"} is 1


def test_a_sell_off_opens_a_case_before_any_withdrawal(
    bus: Bus, people: tuple[Settings, Path]
) -> None:
    """The early alert (kind `liquidation`) reaches the case intake like any alert: the
    case is open while the money is still in the account."""
    settings, _secret = people
    cid = unique("selloffcase")
    changed_four_days_ago(bus, cid)
    alert = sold_off(bus, cid)
    [case] = bus.wait_for("the case", lambda: _cases_of(settings, cid), timeout=60)
    assert case.holds == ()  # nothing asked for yet
    assert alert["severity"] == "high"
    assert bus.values("withdrawal-decisions", customer_id=cid, withdrawal_id=f"{cid}-wd1") == []
