"""A fault-test deployment: its own topics and group, worker processes, a paced producer,
an output collector that keeps partitions and offsets, the group's lag, and the local
stack's broker and Redis processes (by the pid files `scripts/stack.sh` writes).

Secrets are seeded so the log scan has something to look for: a webhook signing secret
(the notify sink posts critical alerts to a local receiver), a console session secret,
a service token and a console user's password.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from tests.faults.load import Load
from tests.integration.harness import ROOT, Worker, _free_port, isolated_settings
from withdrawguard.auth.users import add_user
from withdrawguard.contract import topics as t
from withdrawguard.registry.projection import SOURCES
from withdrawguard.settings import Settings
from withdrawguard.sim import scenarios as s

RUN = ROOT / ".local" / "run"
SECRETS = {
    "webhook secret": "whsec-fault-4f1c9a7e2b6d8035",
    "session secret": "session-fault-9b2e7c41d0a85f36e1",
    "service token": "svc-fault-token-73d1e0b9c4a2",
    "password": "fault-Passw0rd-e81c5d",
}
# What each consumer group reads: the detector's (the app id) the inputs and the internal
# topics; the registry sink's the outputs it projects; the notify sink's the alerts.
DETECTOR_READS = [s.logical for s in t.SPECS if s.role in (t.Role.INPUT, t.Role.INTERNAL)]
REGISTRY_READS = list(SOURCES)
NOTIFY_READS = [t.FRAUD_ALERTS]
COLLECTED = [t.WITHDRAWAL_DECISIONS, t.WITHDRAWAL_HOLDS, t.FRAUD_ALERTS, t.DEAD_LETTERS]


@dataclass(frozen=True)
class Out:
    logical: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    seen_at: float = 0.0
    """time.monotonic() when the collector received it (the client-visible gap)."""


@dataclass
class Collector:
    """Every record of the collected outputs, from the earliest offset, in a thread."""

    settings: Settings
    records: list[Out] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, logical: str) -> list[Out]:
        with self.lock:
            return [r for r in self.records if r.logical == logical]

    def longest_gap(self, logical: str, start: float, end: float) -> float:
        """The longest time between two consecutive records of `logical` the collector
        received around [start, end] (monotonic): from the last one before `start`, through
        those in the window, to the first after `end`, if it has come yet. What a client
        reading the verdicts sees of a fault (its own reconnection included). With none
        before `start`, from `start`; with none after the last, until `end`."""
        seen = sorted(r.seen_at for r in self.of(logical))
        before = [x for x in seen if x < start][-1:] or [start]
        after = [x for x in seen if x > end][:1]
        times = before + [x for x in seen if start <= x <= end] + after
        if len(times) == 1:  # none since: silent at least until the end
            return end - times[0]
        return max(b - a for a, b in itertools.pairwise(times))

    @contextmanager
    def running(self) -> Iterator[Collector]:
        names = t.TopicNames(self.settings)
        logical = {names.name(n): n for n in COLLECTED}
        consumer = KafkaConsumer(
            *logical,
            bootstrap_servers=self.settings.bootstrap_servers,
            auto_offset_reset="earliest",
            group_id=None,
            consumer_timeout_ms=200,
        )
        stop = threading.Event()

        def collect() -> None:
            while not stop.is_set():
                for m in consumer:
                    out = Out(
                        logical[m.topic], m.partition, m.offset, m.key, m.value, time.monotonic()
                    )
                    with self.lock:
                        self.records.append(out)
                    if stop.is_set():
                        break

        thread = threading.Thread(target=collect, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join(timeout=10)
            consumer.close()


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # the webhook channel posts here
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test's output is the measurements."""


@dataclass
class Deployment:
    settings: Settings
    directory: Path
    collector: Collector
    workers: list[Worker] = field(default_factory=list)
    produced: int = 0

    def worker(self, name: str, **changes: Any) -> Worker:
        """A worker of this deployment (not started); its own data dir and web port."""
        settings = self.settings
        if self.workers:
            settings = replace(settings, data_dir=self.directory / name, web_port=_free_port())
        w = Worker(settings, self.directory / f"{name}.log", **changes)
        self.workers.append(w)
        return w

    @property
    def logs(self) -> list[Path]:
        return sorted(self.directory.glob("*.log"))

    def produce(self, load: Load, rate: float) -> threading.Thread:
        """Send the load at about `rate` messages a second, in a thread; the producer
        retries through a broker outage (acks from the leader, idempotent)."""

        def run() -> None:
            producer = KafkaProducer(
                bootstrap_servers=self.settings.bootstrap_servers,
                linger_ms=5,
                acks="all",
                retries=2**31 - 1,
                enable_idempotence=True,
                delivery_timeout_ms=600_000,
                request_timeout_ms=10_000,
            )
            names = t.TopicNames(self.settings)
            started = time.monotonic()
            for i, (topic, body) in enumerate(load.messages):
                producer.send(
                    names.name(topic), key=body["customer_id"].encode(), value=orjson.dumps(body)
                )
                self.produced = i + 1
                if i % 200 == 199:
                    ahead = (i + 1) / rate - (time.monotonic() - started)
                    if ahead > 0:
                        time.sleep(ahead)
            producer.flush(timeout=600)
            producer.close()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    # ------------------------------------------------------------ lag

    def _groups(self) -> dict[str, list[TopicPartition]]:
        names = t.TopicNames(self.settings)

        def parts(logical: list[str]) -> list[TopicPartition]:
            n = self.settings.partitions
            return [TopicPartition(names.name(x), p) for x in logical for p in range(n)]

        return {
            self.settings.app_id: parts(DETECTOR_READS),
            names.sink_group("registry"): parts(REGISTRY_READS),
            names.sink_group("notify"): parts(NOTIFY_READS),
        }

    def _parts(self) -> list[TopicPartition]:
        return sorted({tp for parts in self._groups().values() for tp in parts})

    def ends(self) -> dict[TopicPartition, int]:
        probe = KafkaConsumer(bootstrap_servers=self.settings.bootstrap_servers)
        try:
            return dict(probe.end_offsets(self._parts()))
        finally:
            probe.close()

    def behind(self, ends: dict[TopicPartition, int]) -> int:
        """Messages before `ends` the groups (detector, registry sink, notify sink) have
        not committed yet, each on the topics it reads."""
        admin = KafkaAdminClient(bootstrap_servers=self.settings.bootstrap_servers)
        total = 0
        try:
            for group, parts in self._groups().items():
                done = admin.list_group_offsets(group).get(group, {})
                for tp in parts:
                    total += max(0, ends[tp] - (done[tp].offset if tp in done else 0))
        finally:
            admin.close()
        return total

    def caught_up(
        self,
        ends: dict[TopicPartition, int],
        bound: float,
        what: str,
        since: float | None = None,
    ) -> float:
        """Seconds from `since` (default: now) until the group has committed everything
        before `ends`; fails past `bound` seconds (the stated recovery bound)."""
        started = time.monotonic() if since is None else since
        while True:
            try:
                if self.behind(ends) == 0:
                    return time.monotonic() - started
            except KafkaError as exc:  # the broker may still be coming back
                print(f"lag probe failed ({exc}); trying again")
            if time.monotonic() - started > bound:
                self.dump_workers()
                pytest.fail(f"{what}: lag did not return to zero within {bound:.0f} s")
            time.sleep(0.5)

    def dump_workers(self) -> None:
        """Have each running worker log what it awaits (SIGUSR1: worker_dump.py)."""
        for w in self.workers:
            if w.proc is not None and w.proc.poll() is None:
                os.kill(w.proc.pid, signal.SIGUSR1)
        time.sleep(3)

    def drained(self, producer: threading.Thread, bound: float) -> float:
        """Wait for the producer, then until the group's lag is zero (at most `bound` s)."""
        producer.join(timeout=bound)
        assert not producer.is_alive(), "the producer did not finish"
        started = time.monotonic()
        while True:  # outputs keep being written until the internal topics are done
            ends = self.ends()
            self.caught_up(ends, bound - (time.monotonic() - started), "the end of the load")
            if self.ends() == ends:
                return time.monotonic() - started


def seeded_files(directory: Path) -> dict[str, Any]:
    """Settings fields that seed every secret, and the notify receiver's config."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "webhook.secret").write_text(SECRETS["webhook secret"], encoding="utf-8")
    (directory / "session.secret").write_text(SECRETS["session secret"], encoding="utf-8")
    (directory / "tokens").write_text(SECRETS["service token"] + "\n", encoding="utf-8")
    add_user(directory / "users.json", "fault-analyst", "analyst", SECRETS["password"])
    return {
        "session_secret_file": directory / "session.secret",
        "service_tokens_file": directory / "tokens",
        "users_file": directory / "users.json",
    }


def standby_replicas() -> int:
    """WG_TABLE_STANDBY_REPLICAS as a worker would read it (unset: the worker's default), so
    that the suite measures takeovers with and without warm copies of the tables."""
    given = {k: v for k, v in os.environ.items() if k == "WG_TABLE_STANDBY_REPLICAS"}
    return Settings.from_env(given).table_standby_replicas


@contextmanager
def deployment(
    services: tuple[str, str], name: str, directory: Path, notify_rate: int = 30, **changes: Any
) -> Iterator[Deployment]:
    """An isolated deployment with seeded secrets and a webhook receiver (settings
    `changes` on top, for example a replication factor); stops its workers at the end.
    The webhook channel takes `notify_rate` alerts a minute (0: no limit); the alerts over
    it wait for the minute's digest, uncommitted, and so does the drain."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    extra = seeded_files(directory / "secrets")
    notify = directory / "secrets" / "notify.toml"
    notify.write_text(
        '[notify]\nattempts = 2\n\n[channels.oncall]\ntype = "webhook"\n'
        f'url = "http://127.0.0.1:{server.server_address[1]}/hook"\n'
        f'secret_file = "{directory / "secrets" / "webhook.secret"}"\n'
        f'min_severity = "critical"\nrate_per_minute = {notify_rate}\n',
        encoding="utf-8",
    )
    settings = isolated_settings(
        services,
        name,
        directory / "w1",
        notify_config=notify,
        log_level="info",
        table_standby_replicas=standby_replicas(),
        **extra,
        **changes,
    )
    collector = Collector(settings)
    dep = Deployment(settings, directory, collector)
    try:
        with collector.running():
            yield dep
    finally:
        for w in dep.workers:
            if w.proc is not None and w.proc.poll() is None:
                os.kill(w.proc.pid, signal.SIGCONT)
            w.stop()
        server.shutdown()


# ---------------------------------------------------------------- the local stack


def stack_pid(service: str) -> int:
    path = RUN / f"{service}.pid"
    if not path.exists():
        pytest.fail(
            f"no {path}: the broker and Redis faults need the local stack of this worktree "
            "(`make up` with WG_STACK=local)",
            pytrace=False,
        )
    return int(path.read_text().strip())


def stack_up() -> None:
    """`scripts/stack.sh up`: starts whatever of the local stack is down. A broker that
    holds many partitions loads them all before it answers: 80 s for 18,000 here, when
    every test deployment's topics stayed, past the script's default 90 s wait once its
    probe is counted. Passing tests now delete theirs and at most a few failed ones are
    kept (tests/broker_cleanup.py), but other deployments on the broker (benchmarks kept
    with --keep, other checkouts) still count, so the wait stays raised to just under
    this call's own timeout."""
    result = subprocess.run(
        [str(ROOT / "scripts" / "stack.sh"), "up"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "WG_STACK": "local", "WG_STACK_TIMEOUT": "280"},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def wait_gone(pid: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    pytest.fail(f"process {pid} did not exit within {timeout} s")


def withdrawal_ids(messages: list[s.Message]) -> set[str]:
    return {b["withdrawal_id"] for topic, b in messages if topic == "withdrawals"}
