"""The case sweeps and case events out, on the real Kafka and Redis: two sweepers write
one `proposal_expired`; auto-assignment goes round-robin past the analyst marked away
(by `withdrawguard cases away`); a webhook receives a signed case event; a one-minute
SLA breach is paged once, even read by two feeds sharing Redis."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from tests.integration.harness import ROOT, env_of, isolated_settings, unique
from tests.integration.local_http import serving
from tests.integration.web_client import add_users
from withdrawguard.adapters.case_store import RedisCaseStore, case_prefix
from withdrawguard.adapters.kafka_io import kafka_produce, read_topic
from withdrawguard.adapters.notify.http import HttpClient
from withdrawguard.adapters.notify.redis_store import RedisDedup
from withdrawguard.adapters.notify.webhook import WebhookChannel
from withdrawguard.adapters.redis_connection import async_redis
from withdrawguard.cases import codec
from withdrawguard.cases import commands as cmd
from withdrawguard.cases.events import Trigger
from withdrawguard.cases.people import Actor
from withdrawguard.casework.config import CaseConfig, load_case_config
from withdrawguard.casework.service import CaseService, CaseTopics
from withdrawguard.casework.sweeps import Sweeps
from withdrawguard.contract import topics as t
from withdrawguard.notify.config import parse_notify_config
from withdrawguard.notify.notifier import Notifier
from withdrawguard.notify.signing import HEADER, verify_signature
from withdrawguard.settings import Settings
from withdrawguard.streaming.sinks.case_notify import case_notify_feed
from withdrawguard.streaming.sinks.consumer import SinkConsumer

pytestmark = pytest.mark.integration

SECRET = "case-hook-secret"
PASSWORD = "correct horse battery staple"
CLI = (sys.executable, "-m", "withdrawguard", "cases")
SUE = Actor("sue", "supervisor")
TOM = Actor("tom", "supervisor")


@pytest.fixture(scope="module")
def deployment(services: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return isolated_settings(services, "sweeps", tmp_path_factory.mktemp("sweeps"))


def _news(n: int, amount: int = 5_000_000) -> Trigger:
    return Trigger(
        kind="hold",
        ref_id=f"hold-w{n}",
        severity="high",
        reason_codes=("DRAIN",),
        withdrawal_id=f"w{n}",
        amount=Decimal(amount),
        currency="JPY",
        hold_status="held",
    )


def _config(tmp_path: Path, text: str) -> CaseConfig:
    path = tmp_path / "inboxes.toml"
    path.write_text(text, encoding="utf-8")
    return load_case_config(path)


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    def __call__(self) -> datetime:
        return self.now


@asynccontextmanager
async def _service(
    settings: Settings, config: CaseConfig, clock: Callable[[], datetime]
) -> AsyncIterator[tuple[CaseService, RedisCaseStore]]:
    """A case service of its own connections, as one worker has."""
    names = t.TopicNames(settings)
    topics = CaseTopics(names.name(t.CASE_EVENTS), names.name(t.CASE_DECISIONS))
    redis = async_redis(settings)
    try:
        async with kafka_produce(settings) as produce:
            store = RedisCaseStore(redis, case_prefix(settings.app_id))
            yield CaseService(store, produce, topics, config, clock=clock), store
    finally:
        await redis.aclose()  # type: ignore[attr-defined]


async def _topic_events(settings: Settings, case_id: str) -> list[dict[str, Any]]:
    name = t.TopicNames(settings).name(t.CASE_EVENTS)
    found = []
    async for raw in read_topic(settings, name):
        event = orjson.loads(raw)
        if event["case_id"] == case_id:
            found.append(event)
    return found


async def test_two_sweepers_write_one_proposal_expired(deployment: Settings) -> None:
    clock = Clock()
    config = load_case_config(None)
    async with (
        _service(deployment, config, clock) as (one, store_one),
        _service(deployment, config, clock) as (two, store_two),
    ):
        [opened] = await one.intake(unique("exp-cust"), _news(1))
        release = cmd.Release(
            case_id=opened.case_id, command_id=unique("p"), seen_version=1, hold_id="hold-w1"
        )
        await one.execute(SUE, replace(release, note="verified by call"))
        clock.now += timedelta(hours=25)
        sweepers = [
            Sweeps(s, st, list, clock=clock) for s, st in ((one, store_one), (two, store_two))
        ]
        rounds = await asyncio.gather(*(s.run() for s in sweepers))  # one takes the lock
        both = await asyncio.gather(*(s.expire(clock.now) for s in sweepers))  # no lock at all
        case = await one.case(opened.case_id)
    assert sum(r.expired for r in rounds if r is not None) == 1 and both == [0, 0]
    assert case.proposals == ()
    kinds = [e["kind"] for e in await _topic_events(deployment, opened.case_id)]
    assert kinds.count("proposal_expired") == 1, kinds


def test_auto_assignment_goes_round_robin_past_the_analyst_marked_away(
    deployment: Settings, tmp_path: Path
) -> None:
    users = tmp_path / "users.json"
    settings = replace(deployment, users_file=users)
    people = {"amy": "analyst", "ben": "analyst", "cy": "analyst", "sue": "supervisor"}
    add_users(settings, {n: (r, PASSWORD) for n, r in people.items()})
    secret = tmp_path / "password"
    secret.write_text(PASSWORD, encoding="utf-8")
    until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    away = subprocess.run(
        [*CLI, "away", "ben", "--until", until, "--user", "sue", "--password-file", str(secret)],
        env=env_of(settings),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert away.returncode == 0 and "ben is unavailable until" in away.stdout, away.stderr
    config = _config(
        tmp_path,
        'default = "desk"\n[[inbox]]\nname = "desk"\nsla_hours = 4\nauto_assign = true\n'
        'roles = ["analyst"]\n',
    )
    clock = Clock()

    async def go() -> list[tuple[str, str | None]]:
        async with _service(settings, config, clock) as (service, store):
            opened = []
            for n in range(4):
                [event] = await service.intake(unique(f"rr-{n}"), _news(n, 50_000))
                opened.append(event.case_id)
                clock.now += timedelta(minutes=1)
            crew = [Actor(n, r) for n, r in people.items() if r == "analyst"]  # type: ignore[arg-type]
            sweeps = Sweeps(service, store, lambda: crew, clock=clock)
            swept = await sweeps.run()
            assert swept is not None and swept.assigned == 4
            return [(c, (await service.case(c)).assignee) for c in opened]

    given = asyncio.run(go())
    assert [who for _, who in given] == ["amy", "cy", "amy", "cy"]


@dataclass
class Hook:
    """A webhook receiver recording every POST (200)."""

    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        with self.lock:
            self.got.append((dict(request.headers), body))
        return web.Response(status=200)

    def events(self, case_id: str) -> list[tuple[dict[str, str], dict[str, Any]]]:
        with self.lock:
            bodies = [(h, orjson.loads(b)) for h, b in self.got]
        return [(h, b) for h, b in bodies if b["event"]["case_id"] == case_id]


def _notifier(settings: Settings, port: int, routes: dict[str, list[str]]) -> tuple[Notifier, Any]:
    raw = {
        "notify": {"timeout_seconds": 3},
        "channels": {
            "hook": {
                "type": "webhook",
                "url": f"http://127.0.0.1:{port}/ok/case",
                "secret_env": "S",
            }
        },
        "case_events": routes,
    }
    config = parse_notify_config(raw, {"S": SECRET})
    http, redis = HttpClient(), async_redis(settings)

    async def no_dead_letters(key: bytes | None, record: dict[str, Any]) -> None:
        raise AssertionError(record)

    channel = WebhookChannel("hook", config.channels[0].url, config.channels[0].secret, http)  # type: ignore[arg-type]
    notifier = Notifier(
        config,
        {"hook": channel},
        dedup=RedisDedup(redis),
        dead_letters=no_dead_letters,
        console_url="http://console.test",
        prefix=f"wg:{{{settings.app_id}}}:notify",
        closers=(http.close, redis.aclose),
    )
    return notifier, config


@asynccontextmanager
async def _feed(
    settings: Settings, notifier: Notifier, config: Any, group: str
) -> AsyncIterator[SinkConsumer]:
    """The case-notify feed running in this loop until the block ends."""
    names = t.TopicNames(settings)
    redis = async_redis(settings)
    store = RedisCaseStore(redis, case_prefix(settings.app_id))
    feed = case_notify_feed(
        settings, notifier, config, store.summaries, names.name(t.CASE_EVENTS), group
    )
    task = asyncio.create_task(feed.run())
    try:
        yield feed
    finally:
        await feed.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await notifier.stop()
        await redis.aclose()  # type: ignore[attr-defined]


async def _until(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 60
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def test_a_webhook_receives_a_signed_case_event(deployment: Settings) -> None:
    hook = Hook()
    with serving(hook.handle) as port:
        notifier, config = _notifier(deployment, port, {"commented": ["hook"], "sla_breached": []})
        async with (
            _feed(deployment, notifier, config, unique("case-notify")),
            _service(deployment, load_case_config(None), Clock()) as (service, _),
        ):
            customer = unique("hook-cust")
            [opened] = await service.intake(customer, _news(7, 60_000))
            note = cmd.Comment(
                case_id=opened.case_id, command_id=unique("c"), seen_version=1, note="called"
            )
            done = await service.execute(TOM, note)
            await _until("the commented event", lambda: bool(hook.events(opened.case_id)))
    [(headers, body)] = hook.events(opened.case_id)
    raw = next(b for h, b in hook.got if h is headers)
    assert verify_signature(SECRET, headers[HEADER], raw, time.time())
    assert body["type"] == "case_event" and body["event"]["kind"] == "commented"
    assert body["event"] == orjson.loads(codec.encode_bytes(done.events[0]))
    assert body["event"]["event_id"] == done.events[0].event_id
    assert body["case"]["customer_id"] == customer and body["case"]["inbox"]
    assert headers["X-Withdrawguard-Delivery"] == f"{done.events[0].event_id}:hook"


async def test_a_one_minute_sla_breach_is_paged_once_by_two_sweepers_and_a_replay(
    deployment: Settings, tmp_path: Path
) -> None:
    config = _config(tmp_path, 'default = "urgent"\n[[inbox]]\nname = "urgent"\nsla_minutes = 1\n')
    clock = Clock()
    hook = Hook()
    with serving(hook.handle) as port:
        async with (
            _service(deployment, config, clock) as (one, store_one),
            _service(deployment, config, clock) as (two, store_two),
        ):
            customer = unique("sla-cust")
            [opened] = await one.intake(customer, _news(9, 70_000))
            pair = ((one, store_one), (two, store_two))
            sweepers = [Sweeps(s, st, list, clock=clock) for s, st in pair]
            clock.now += timedelta(seconds=59)
            assert [await s.breaches(clock.now) for s in sweepers] == [0, 0]
            clock.now += timedelta(seconds=2)
            written = await asyncio.gather(*(s.breaches(clock.now) for s in sweepers))
        assert sorted(written) == [0, 1]
        # The feed pages it; a second feed reading case-events from the start (a restart
        # with its offsets lost) finds the page delivered and sends nothing.
        for attempt in range(2):
            notifier, routes = _notifier(deployment, port, {})  # default: breaches page
            async with _feed(deployment, notifier, routes, unique("sla-notify")):
                await _until("the breach page", lambda: bool(hook.events(opened.case_id)))
                await asyncio.sleep(3 if attempt else 0)  # time for a repeat, were there one
    [(_, body)] = hook.events(opened.case_id)
    assert body["event"]["kind"] == "sla_breached" and body["case"]["customer_id"] == customer
    assert body["case"]["inbox"] == "urgent"
    link = f"{deployment.console_url.rstrip('/')}/cases/{opened.case_id}"
    assert body["message"]["link"] == body["case"]["link"] == link
    assert "Late by: 0 min 01 s" in body["message"]["text"]
