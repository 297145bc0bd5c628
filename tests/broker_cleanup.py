"""Test deployments leave the shared broker as they found it: the topics and consumer
groups of a deployment (`isolated_settings` in tests/integration/harness.py) are deleted
once every test that used it has passed. When one failed they are kept for a post-mortem,
listed in `.local/kept-deployments.json`, and a session deletes all but the newest
`KEEP_FAILED` kept ones when it starts. A broker holding every run's partitions takes
minutes to start; this keeps it at seconds.

Who used a deployment: the test whose body (or function-scoped fixture) made it, judged
when that test's teardown is done; for one made by a module- or session-scoped fixture,
every test that requested that fixture, judged when the session ends (after the fixture's
workers are stopped). A deployment whose session died before judging it (killed, timed
out) is kept like a failed one: its entry names a process that no longer runs.

What belongs to a deployment: topics named with its topic prefix or its app id (Faust's
changelog, repartition and assignor topics) and consumer groups named with its app id
(the detector's, the registry and notify sinks'), as bench/deployment.py removes them.
Deployments on the secured brokers some tests start for themselves are deleted when they
pass and never kept: those brokers and their data go with their session.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient

from withdrawguard.adapters.kafka_security import kafka_python_options
from withdrawguard.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
LEDGER = ROOT / ".local" / "kept-deployments.json"
KEEP_FAILED = 5
GROUP_MEMBERS_EXPIRE = 30.0
"""Seconds to retry deleting a group that still has a member: a SIGKILLed worker stays a
member until its session times out (WG_KAFKA_SESSION_TIMEOUT, 10 s in the tests)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("kept_deployments", "file listing the failed tests' deployments kept", "string")
    parser.addini("keep_failed_deployments", "failed deployments kept (newest)", "string")


# ------------------------------------------------------------------ the broker


def remove(bootstrap: str, app_id: str, topic_prefix: str, **security: Any) -> None:
    """Delete a deployment's topics and consumer groups from the broker at `bootstrap`."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000, **security)
    try:
        topics = [n for n in admin.list_topics() if n.startswith((topic_prefix, f"{app_id}-"))]
        if topics:
            admin.delete_topics(topics, raise_errors=False)
        deadline = time.monotonic() + GROUP_MEMBERS_EXPIRE
        while True:
            groups = _groups(admin, app_id)
            answers = admin.delete_groups(groups) if groups else {}
            failed = [g for g, answer in answers.items() if answer != "OK"]  # else: the error
            if not failed or time.monotonic() > deadline:
                break
            time.sleep(1)  # a killed member's session has not expired yet
    finally:
        admin.close()


def on_broker(bootstrap: str, app_id: str, topic_prefix: str) -> tuple[list[str], list[str]]:
    """(topics, consumer groups) of a deployment still on the broker."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    try:
        topics = [n for n in admin.list_topics() if n.startswith((topic_prefix, f"{app_id}-"))]
        return sorted(topics), sorted(_groups(admin, app_id))
    finally:
        admin.close()


def _groups(admin: KafkaAdminClient, app_id: str) -> list[str]:
    return [g["group_id"] for g in admin.list_groups() if g["group_id"].startswith(app_id)]


# ------------------------------------------------------------------ the ledger


@contextlib.contextmanager
def ledger(path: Path) -> Iterator[list[dict[str, Any]]]:
    """The kept and open deployments in `path`, locked against other sessions; changes to
    the list are written back."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.parent / (path.name + ".lock")).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        entries = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
        yield entries
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(entries, indent=1), encoding="utf-8")
        tmp.replace(path)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prune(path: Path, keep: int) -> list[str]:
    """Delete from the broker all kept deployments but the newest `keep` (an open one whose
    session no longer runs counts as kept); the app ids deleted."""
    with ledger(path) as entries:
        kept = [e for e in entries if e["pid"] is None or not _running(e["pid"])]
        kept.sort(key=lambda e: e["made"])
        gone = []
        for e in kept[: max(0, len(kept) - keep)]:
            try:
                remove(e["bootstrap"], e["app_id"], e["topic_prefix"])
            except Exception as exc:  # noqa: BLE001 - a broker that is down: try next time
                print(f"kept deployment {e['app_id']} not deleted ({exc!r}); trying next session")
                continue
            entries.remove(e)
            gone.append(e["app_id"])
        return gone


# ------------------------------------------------------------------ the session


@dataclass
class Made:
    settings: Settings
    fixture: Any | None  # the FixtureDef (module scope or wider) that made it, else None
    item: pytest.Item | None  # the test that made it (body or function-scoped fixture)


@dataclass
class Tracker:
    path: Path
    keep: int
    item: pytest.Item | None = None
    fixtures: list[Any] = field(default_factory=list)  # FixtureDefs being set up
    made: list[Made] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)  # node ids with a failed phase
    finished: set[str] = field(default_factory=set)  # node ids whose teardown is done

    def passed(self, item: pytest.Item) -> bool:
        return item.nodeid in self.finished and item.nodeid not in self.failed

    def created(self, settings: Settings) -> None:
        fixture = self.fixtures[-1] if self.fixtures else None
        if fixture is not None and fixture.scope == "function":
            fixture = None
        self.made.append(Made(settings, fixture, self.item))
        if _shared_broker(settings):
            entry = {
                "app_id": settings.app_id,
                "topic_prefix": settings.topic_prefix,
                "bootstrap": settings.kafka_bootstrap,
                "made": time.time(),
                "pid": os.getpid(),
                "test": self.item.nodeid if self.item is not None else "",
            }
            with ledger(self.path) as entries:
                entries.append(entry)

    def judge(self, made: Made, passed: bool) -> None:
        self.made.remove(made)
        s = made.settings
        if passed or not _shared_broker(s):
            try:
                remove(s.kafka_bootstrap, s.app_id, s.topic_prefix, **kafka_python_options(s))
            except Exception as exc:  # noqa: BLE001 - the broker of a finished test may be gone
                if _shared_broker(s):
                    print(f"\ndeployment {s.app_id} not deleted ({exc!r}); kept")
                    passed = False
        with ledger(self.path) as entries:
            for e in [e for e in entries if e["app_id"] == s.app_id]:
                if passed or not _shared_broker(s):
                    entries.remove(e)
                else:
                    e["pid"] = None
        if not passed and _shared_broker(s):
            print(
                f"\nkept for a post-mortem (a test failed): topics {s.topic_prefix}* and "
                f"{s.app_id}-*, consumer groups {s.app_id}*; the newest {self.keep} kept "
                f"ones stay (listed in {self.path})"
            )

    def users_passed(self, made: Made, items: list[pytest.Item]) -> bool:
        if made.fixture is None:
            return made.item is not None and self.passed(made.item)
        name, base = made.fixture.argname, made.fixture.baseid
        users = [
            i for i in items if name in getattr(i, "fixturenames", ()) and i.nodeid.startswith(base)
        ]
        return all(self.passed(i) for i in users)


def _shared_broker(settings: Settings) -> bool:
    return settings.kafka_security_protocol == "PLAINTEXT"


_TRACKERS: list[Tracker] = []


def created(settings: Settings) -> None:
    """Called by `isolated_settings` for every deployment it makes; outside a pytest
    session (the benchmarks) it does nothing: they remove their own."""
    if _TRACKERS:
        _TRACKERS[-1].created(settings)


def pytest_sessionstart(session: pytest.Session) -> None:
    cfg = session.config
    path = Path(cfg.getini("kept_deployments") or LEDGER)
    keep = int(cfg.getini("keep_failed_deployments") or KEEP_FAILED)
    if path.exists():
        for app_id in prune(path, keep):
            print(f"deleted kept deployment {app_id} (more than {keep} kept)")
    _TRACKERS.append(Tracker(path, keep))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Any:
    tracker = _TRACKERS[-1]
    tracker.item = item
    try:
        return (yield)
    finally:
        tracker.item = None


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: Any) -> Any:
    fixtures = _TRACKERS[-1].fixtures
    fixtures.append(fixturedef)
    try:
        return (yield)
    finally:
        fixtures.pop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    tracker = _TRACKERS[-1]
    if report.failed:
        tracker.failed.add(item.nodeid)
    if call.when == "teardown":
        tracker.finished.add(item.nodeid)
        for made in [m for m in tracker.made if m.fixture is None and m.item is item]:
            tracker.judge(made, tracker.passed(item))
    return report


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    if not _TRACKERS:
        return
    tracker = _TRACKERS[-1]
    for made in list(tracker.made):
        tracker.judge(made, tracker.users_passed(made, session.items))
    _TRACKERS.pop()
