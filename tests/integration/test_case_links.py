"""Case links on the real Kafka and Redis: the links projection written in any order and
any number of times comes out the same; customers of a real worker who set one
destination, or sign in from one IP or one device, within the windows are each other's
links, with their case status, and those outside the windows are not; the projection
rebuilt from the observation topics (`withdrawguard cases rebuild-links`) equals the live
one."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from redis.asyncio import Redis

from tests.integration.harness import ROOT, Bus, env_of, unique
from tests.integration.web_client import add_users
from withdrawguard.adapters.case_store import RedisCaseStore, case_prefix
from withdrawguard.adapters.kafka_security import kafka_python_options
from withdrawguard.adapters.link_store import RedisLinkStore, links_prefix
from withdrawguard.adapters.redis_connection import async_redis
from withdrawguard.cases.case import Case
from withdrawguard.cases.links import (
    Link,
    LinkWindows,
    Touch,
    Value,
    destination_value,
    slot_of,
)
from withdrawguard.cases.policy import CasePolicy
from withdrawguard.casework.links import LinkReader
from withdrawguard.contract import topics as t
from withdrawguard.engine.policy import DAY, load_policy
from withdrawguard.registry.keys import registry_prefix
from withdrawguard.settings import Settings
from withdrawguard.sim import scenarios as s

pytestmark = pytest.mark.integration

WINDOWS = LinkWindows.of(load_policy(), CasePolicy().link_device_window)
PASSWORD = "correct horse battery staple"
X = TypeVar("X")


def _redis(settings: Settings, step: Callable[[Redis[bytes]], Awaitable[X]]) -> X:
    async def go() -> X:
        redis = async_redis(settings)
        try:
            return await step(redis)
        finally:
            await redis.aclose()  # type: ignore[attr-defined]

    return asyncio.run(go())


def _links_of(settings: Settings, customer: str) -> list[Link]:
    async def read(redis: Redis[bytes]) -> list[Link]:
        links = RedisLinkStore(redis, links_prefix(settings.app_id))
        cases = RedisCaseStore(redis, case_prefix(settings.app_id))
        return await LinkReader(links, cases, lambda: WINDOWS).for_customer(
            customer, datetime.now(UTC)
        )

    return _redis(settings, read)


def _cases_of(settings: Settings, customer: str) -> list[Case]:
    return _redis(
        settings, lambda r: RedisCaseStore(r, case_prefix(settings.app_id)).cases_of(customer)
    )


def _dump(settings: Settings, prefix: str) -> dict[str, list[tuple[str, int]]]:
    async def dump(redis: Redis[bytes]) -> dict[str, list[tuple[str, int]]]:
        found = await RedisLinkStore(redis, prefix).dump()
        return {k.removeprefix(prefix): v for k, v in found.items()}

    return _redis(settings, dump)


# ------------------------------------------------------------ the projection alone


def test_the_projection_is_the_same_in_any_order_however_often_and_stays_bounded(
    settings: Settings,
) -> None:
    rng = random.Random(26)
    ip = Value("ip", "198.18.9.9", "198.18.9.9")
    dev = Value("device", "dev-9", "dev-9")
    dest = destination_value("0009/222/7654321")
    now = int(time.time() * 1000)
    touches = [
        Touch(rng.choice((ip, dev, dest)), f"C{rng.randrange(12)}", now - rng.randrange(45 * DAY))
        for _ in range(300)
    ]
    # Beside the deployment's links (its rebuild below deletes everything under those).
    prefixes = [f"{registry_prefix(settings.app_id)}linktest{uuid.uuid4().hex[:6]}:" for _ in "abc"]

    async def write(redis: Redis[bytes]) -> None:
        for n, prefix in enumerate(prefixes):
            store = RedisLinkStore(redis, prefix, max_slots=8, max_values=2)
            batch = list(touches) if n == 0 else rng.sample(touches, len(touches))
            for start in range(0, len(batch), 7):
                await store.record(batch[start : start + 7], WINDOWS)
            if n == 2:
                await store.record(touches, WINDOWS)  # everything again: a replay

    _redis(settings, write)
    first, *others = [_dump(settings, p) for p in prefixes]
    assert all(other == first for other in others)
    for key, members in first.items():
        newest = max(score for _, score in members)
        assert len(members) <= (8 if key.startswith("v:") else 2)
        assert all(score >= newest - WINDOWS.lookback for _, score in members)
    assert not any("7654321" in key or "7654321" in m for key, ms in first.items() for m, _ in ms)


_ONE_TOUCH = """
local function keep(key, member, score, lookback, cap)
  redis.call('zadd', key, 'GT', score, member)
  local top = redis.call('zrange', key, -1, -1, 'WITHSCORES')
  redis.call('zremrangebyscore', key, '-inf', '(' .. (tonumber(top[2]) - lookback))
  local n = redis.call('zcard', key)
  if n > cap then redis.call('zremrangebyrank', key, 0, n - cap - 1) end
end
keep(KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[4]), tonumber(ARGV[5]))
keep(KEYS[2], ARGV[3], tonumber(ARGV[2]), tonumber(ARGV[4]), tonumber(ARGV[6]))
"""
"""The projection's rule, one touch at a time: raise the member, trim the key."""


def test_many_touches_a_call_keep_what_one_touch_at_a_time_keeps(settings: Settings) -> None:
    now = int(time.time() * 1000)
    values = [Value("ip", f"198.18.7.{i}", f"198.18.7.{i}") for i in range(4)]
    values += [Value("device", f"dev-{i}", f"dev-{i}") for i in range(3)]

    async def compare(redis: Redis[bytes]) -> None:
        one = redis.register_script(_ONE_TOUCH)
        for seed in range(5):
            rng = random.Random(seed)
            touches = [
                Touch(rng.choice(values), f"C{rng.randrange(10)}", now - rng.randrange(60 * DAY))
                for _ in range(400)
            ]
            tag = f"{registry_prefix(settings.app_id)}linkrule{uuid.uuid4().hex[:6]}"
            each = RedisLinkStore(redis, f"{tag}a:", max_slots=5, max_values=3)
            many = RedisLinkStore(redis, f"{tag}b:", max_slots=5, max_values=3)
            for x in touches:
                keys = [each.value_key(x.value), each.customer_key(x.customer_id)]
                member = slot_of(x, WINDOWS).member()
                args = [member, x.ts, x.value.encode(), WINDOWS.lookback, 5, 3]
                await one(keys=keys, args=args)
            for start in range(0, len(touches), 300):  # 250 then 50 a call, then 100
                await many.record(touches[start : start + 300], WINDOWS)
            kept_each = {k.removeprefix(each.prefix): v for k, v in (await each.dump()).items()}
            kept_many = {k.removeprefix(many.prefix): v for k, v in (await many.dump()).items()}
            assert kept_many == kept_each
            await each.clear()
            await many.clear()

    _redis(settings, compare)


# ------------------------------------------------------------ through a real worker


@pytest.fixture(scope="module")
def people(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Path]:
    where = tmp_path_factory.mktemp("links")
    with_users = replace(settings, users_file=where / "users.json")
    add_users(with_users, {"sue": ("supervisor", PASSWORD)})
    secret = where / "password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    return with_users, secret


def _cli(settings: Settings, secret: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "withdrawguard", "cases", *args, "--user", "sue"]
    return subprocess.run(
        [*command, "--password-file", str(secret)],
        env=env_of(settings),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _links_caught_up(settings: Settings, timeout: float = 60) -> None:
    """Wait until the links feed's group has committed every observation record."""
    names = t.TopicNames(settings)
    topics = [names.name(x) for x in (t.DESTINATION_OBSERVATIONS, t.IP_OBSERVATIONS)]
    security = kafka_python_options(settings)
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, **security)
    probe = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, **security)
    group = names.sink_group("links")
    try:
        parts = [TopicPartition(n, p) for n in topics for p in range(settings.partitions)]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ends = probe.end_offsets(parts)
            done = admin.list_group_offsets(group).get(group, {})
            if all(ends[tp] == 0 or (tp in done and done[tp].offset >= ends[tp]) for tp in parts):
                return
            time.sleep(0.2)
        pytest.fail(f"the links feed had not caught up after {timeout}s")
    finally:
        admin.close()
        probe.close()


def test_customers_sharing_a_destination_an_ip_and_a_device_are_linked_with_their_case(
    bus: Bus, people: tuple[Settings, Path]
) -> None:
    settings, secret = people
    a, b, c = unique("lnk-a"), unique("lnk-b"), unique("lnk-c")
    ip = f"198.19.{random.randint(0, 255)}.{random.randint(1, 254)}"
    device = unique("dev-shared")
    account = str(random.randint(10**6, 10**7 - 1))
    mule = {"bank_code": "0009", "branch_code": "222", "account_number": account}
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    bus.send(
        [
            # A signs in, sets the mule and withdraws to it: held, a case.
            s.login(a, f"{a}-l1", t0, ip=ip, device=device),
            s.change(
                a,
                f"{a}-c1",
                t0 + timedelta(minutes=1),
                "withdrawal_destination",
                ip=ip,
                device=device,
                destination=mule,
            ),
            s.withdrawal(
                a,
                f"{a}-w1",
                t0 + timedelta(minutes=5),
                f"{a}-wd",
                "300000",
                destination=mule,
                ip=ip,
                device=device,
            ),
            # B, ten minutes later, from the same IP and device, sets the same mule.
            s.login(b, f"{b}-l1", t0 + timedelta(minutes=10), ip=ip, device=device),
            s.change(
                b, f"{b}-c1", t0 + timedelta(minutes=11), "withdrawal_destination", destination=mule
            ),
            # C: the same IP four hours before (over twice the 60-minute window), another
            # device, and the same mule 45 days before (past the 30-day lookback).
            s.login(c, f"{c}-l1", t0 - timedelta(hours=4), ip=ip, device=unique("dev-c")),
            s.change(
                c, f"{c}-c1", t0 - timedelta(days=45), "withdrawal_destination", destination=mule
            ),
        ]
    )
    [case] = bus.wait_for("A's case", lambda: _cases_of(settings, a), timeout=60)

    def b_links() -> list[Link]:
        found = _links_of(settings, b)
        return found if {x.kind for x in found} == {"destination", "ip", "device"} else []

    found = bus.wait_for("B's links", b_links, timeout=60)
    assert {(x.kind, x.customer_id, x.case_id, x.case_status) for x in found} == {
        ("destination", a, case.case_id, "open"),
        ("ip", a, case.case_id, "open"),
        ("device", a, case.case_id, "open"),
    }
    shown = {x.kind: x.shown for x in found}
    assert shown["destination"] == f"bank 0009 branch 222 acct ****{mule['account_number'][-4:]}"
    assert shown["ip"] == ip and shown["device"] == device
    a_links = _links_of(settings, a)
    assert {(x.kind, x.customer_id, x.case_id) for x in a_links} == {
        (kind, b, None) for kind in ("destination", "ip", "device")
    }
    assert _links_of(settings, c) == []  # C touched both, but outside the windows

    shown_case = _cli(settings, secret, "show", case.case_id)
    assert shown_case.returncode == 0, shown_case.stderr
    assert f"destination {shown['destination']}  {b}  last seen" in shown_case.stdout
    assert mule["account_number"] not in shown_case.stdout

    bus.wait_idle()
    _links_caught_up(settings)
    prefix = links_prefix(settings.app_id)
    live = _dump(settings, prefix)
    assert f"c:{a}" in live and f"c:{b}" in live and f"v:device:{device}" in live
    rebuilt = _cli(settings, secret, "rebuild-links")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "skipped 0" in rebuilt.stdout
    assert _dump(settings, prefix) == live
