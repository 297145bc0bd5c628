"""Integration fixtures: the real Kafka broker and Redis, and a real worker process.

The services are the ones `make up` starts (or WG_KAFKA_BOOTSTRAP / WG_REDIS_URL), or
testcontainers' Kafka and Redis where Docker works and no broker is configured. When
none can be had, every test here fails with a message saying how to start them: they
never skip.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from tests import broker_cleanup
from withdrawguard.adapters.kafka_security import kafka_python_options
from withdrawguard.adapters.topic_admin import create_topics
from withdrawguard.contract import topics as t
from withdrawguard.secret import Secret
from withdrawguard.settings import Settings, setting_fields

ROOT = Path(__file__).resolve().parents[2]
HOW_TO_START = "start them with `make up` (Kafka and Redis), or set WG_KAFKA_BOOTSTRAP/WG_REDIS_URL"


def _kafka_answers(bootstrap: str) -> bool:
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    except Exception:  # noqa: BLE001 - any failure means no broker
        return False
    try:
        admin.list_topics()
        return True
    finally:
        admin.close()


def _redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def _docker_works() -> bool:
    return (
        shutil.which("docker") is not None
        and subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0
    )


@pytest.fixture(scope="session")
def services() -> Iterator[tuple[str, str]]:
    """(kafka bootstrap, redis url) of live services."""
    bootstrap = os.environ.get("WG_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    redis_url = os.environ.get("WG_REDIS_URL", "redis://127.0.0.1:6379/0")
    if _kafka_answers(bootstrap) and _redis_answers(redis_url):
        yield bootstrap, redis_url
        return
    if "WG_KAFKA_BOOTSTRAP" not in os.environ and _docker_works():
        from testcontainers.kafka import KafkaContainer
        from testcontainers.redis import RedisContainer

        with KafkaContainer("apache/kafka:4.1.1").with_kraft() as kafka, RedisContainer() as r:
            host, port = r.get_container_host_ip(), r.get_exposed_port(6379)
            yield kafka.get_bootstrap_server(), f"redis://{host}:{port}/0"
        return
    pytest.fail(
        f"no Kafka broker at {bootstrap} or no Redis at {redis_url}: {HOW_TO_START}",
        pytrace=False,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def isolated_settings(
    services: tuple[str, str], name: str, data_dir: Path, **extra: Any
) -> Settings:
    """Settings of an isolated deployment (its own topics, consumer group, Redis key
    prefix, data dir and web port), with its topics created. Its topics and groups are
    deleted when the tests that used it pass (tests/broker_cleanup.py)."""
    run = uuid.uuid4().hex[:8]
    s = Settings(
        kafka_bootstrap=services[0],
        redis_url=services[1],
        app_id=f"wg-{name}-{run}",
        topic_prefix=f"{name}-{run}.",
        data_dir=data_dir,
        web_port=_free_port(),
    )
    s = replace(s, **extra)
    broker_cleanup.created(s)
    create_topics(s, log=lambda _line: None)
    return s


@pytest.fixture(scope="session")
def settings(services: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of the session's deployment."""
    return isolated_settings(services, "it", tmp_path_factory.mktemp("worker"))


def env_of(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WG_")}
    for f in setting_fields(Settings):
        value = getattr(settings, f.name)
        if value is not None:
            env[f"WG_{f.name.upper()}"] = (
                value.reveal() if isinstance(value, Secret) else str(value)
            )
    return env


@dataclass
class Worker:
    """A `withdrawguard worker` process of the test deployment."""

    settings: Settings
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    command: tuple[str, ...] = ("-m", "withdrawguard", "worker")
    """Arguments to the Python interpreter (the fault suite runs a test-only entry point)."""

    def start(self, timeout: float = 90) -> None:
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [sys.executable, *self.command],
                env=env_of(self.settings),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        url = f"http://127.0.0.1:{self.settings.web_port}/ready"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"worker exited with {self.proc.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        self.stop(signal.SIGKILL)  # never leave a half-started worker behind
        pytest.fail(f"worker not ready within {timeout}s; see {self.log_path}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="session")
def worker(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    w = Worker(settings, tmp_path_factory.mktemp("logs") / "worker.log")
    w.start()
    yield w
    w.stop()


@dataclass
class Bus:
    """Produces input messages and collects every output message of the deployment."""

    settings: Settings
    producer: KafkaProducer
    seen: dict[str, list[tuple[bytes | None, dict[str, Any]]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    lock: threading.Lock = field(default_factory=threading.Lock)

    def name(self, logical: str) -> str:
        return t.TopicNames(self.settings).name(logical)

    def send(self, messages: Iterable[tuple[str, dict[str, Any]]]) -> None:
        for topic, body in messages:
            self.send_raw(topic, body["customer_id"].encode(), orjson.dumps(body))
        self.producer.flush()

    def send_raw(self, topic: str, key: bytes | None, value: bytes) -> None:
        self.producer.send(self.name(topic), key=key, value=value)

    def records(self, logical: str) -> list[tuple[bytes | None, dict[str, Any]]]:
        with self.lock:
            return list(self.seen[self.name(logical)])

    def values(self, logical: str, **match: Any) -> list[dict[str, Any]]:
        return [v for _, v in self.records(logical) if all(v.get(k) == x for k, x in match.items())]

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = check()
            if result:
                return result
            time.sleep(0.1)
        pytest.fail(f"timed out after {timeout}s waiting for {what}")

    def wait_idle(self, timeout: float = 30) -> None:
        """Wait until the worker's group has committed every input and internal message."""
        names = t.TopicNames(self.settings)
        read = (t.Role.INPUT, t.Role.INTERNAL)
        watched = [names.name(s.logical) for s in t.SPECS if s.role in read]
        security = kafka_python_options(self.settings)
        admin = KafkaAdminClient(bootstrap_servers=self.settings.bootstrap_servers, **security)
        probe = KafkaConsumer(bootstrap_servers=self.settings.bootstrap_servers, **security)
        try:
            parts = [TopicPartition(n, p) for n in watched for p in range(self.settings.partitions)]
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                ends = probe.end_offsets(parts)
                group = self.settings.app_id
                done = admin.list_group_offsets(group).get(group, {})
                if all(
                    ends[tp] == 0 or (tp in done and done[tp].offset >= ends[tp]) for tp in parts
                ):
                    time.sleep(0.3)  # outputs of the last event reach the collector
                    return
                time.sleep(0.2)
            pytest.fail(f"worker still had unprocessed messages after {timeout}s")
        finally:
            admin.close()
            probe.close()


@contextmanager
def collecting_bus(settings: Settings, logical_topics: Iterable[str]) -> Iterator[Bus]:
    """A Bus for `settings` whose `seen` fills, in the background, with every message
    of the given topics (logical names) from the earliest offset."""
    security = kafka_python_options(settings)
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, linger_ms=1, **security)
    b = Bus(settings, producer)
    names = t.TopicNames(settings)
    consumer = KafkaConsumer(
        *(names.name(n) for n in logical_topics),
        bootstrap_servers=settings.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=None,
        consumer_timeout_ms=200,
        **security,
    )
    stop = threading.Event()

    def collect() -> None:
        while not stop.is_set():
            for msg in consumer:
                with b.lock:
                    b.seen[msg.topic].append((msg.key, orjson.loads(msg.value)))
                if stop.is_set():
                    break

    thread = threading.Thread(target=collect, daemon=True)
    thread.start()
    try:
        yield b
    finally:
        stop.set()
        thread.join(timeout=5)
        consumer.close()
        producer.close()


OUTPUTS = [s.logical for s in t.SPECS if s.role is t.Role.OUTPUT]


@pytest.fixture(scope="session")
def bus(settings: Settings, worker: Worker) -> Iterator[Bus]:
    with collecting_bus(settings, OUTPUTS) as b:
        yield b


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def replace_settings(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, **changes)
