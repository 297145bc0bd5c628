"""Bounded memory under a failing channel, on the real broker, Redis and a worker process.

A webhook answers 503 to everything until the test opens it; the channel retries until
delivered (`attempts = 0`) and the worker may hold WG_NOTIFY_BACKLOG_MAX = 5 alerts. Thirty
alerts are produced onto `fraud-alerts`. The worker's backlog gauge stays at 5 and its
back-pressure counter grows (the feed is paused, not blocked); nothing is committed past
an undelivered alert; a SIGKILL and restart meanwhile loses nothing; once the webhook
answers, every alert arrives exactly once and the group commits to the end.
"""

from __future__ import annotations

import signal
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from kafka import KafkaAdminClient, KafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.harness import Worker, isolated_settings, unique
from tests.integration.local_http import serving
from tests.unit.notify_fakes import alert
from withdrawguard.adapters.kafka_security import kafka_python_options
from withdrawguard.contract import topics as t
from withdrawguard.settings import Settings

pytestmark = pytest.mark.integration

ALERTS = 30
BACKLOG = 5


@dataclass
class Webhook:
    """503 until `up` is set, then 200; counts the alert ids of every 200 (digests too)."""

    port: int = 0
    up: threading.Event = field(default_factory=threading.Event)
    refused: int = 0
    delivered: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        with self.lock:
            if not self.up.is_set():
                self.refused += 1
                return web.Response(status=503)
            for a in body.get("alerts", [body.get("alert")]):
                self.delivered[a["alert_id"]] += 1
        return web.Response(status=200)


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    with serving(hook.handle) as port:
        hook.port = port
        yield hook


def deployment(services: tuple[str, str], hook: Webhook, d: Path) -> Settings:
    (d / "secret").write_text("whsec-notify-backlog")
    (d / "notify.toml").write_text(
        f"""
[notify]
attempts = 0
base_delay_seconds = 0.05
max_delay_seconds = 0.3
timeout_seconds = 2
workers_per_channel = 2

[channels.hook]
type = "webhook"
secret_file = "secret"
min_severity = "low"
url = "http://127.0.0.1:{hook.port}/down/hook"
"""
    )
    return isolated_settings(
        services,
        "notifybl",
        d / "worker",
        notify_config=d / "notify.toml",
        notify_backlog_max=BACKLOG,
        partitions=2,
    )


def metrics(settings: Settings) -> dict[str, float]:
    url = f"http://127.0.0.1:{settings.web_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    return {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("withdrawguard_notification_back")
    }


def wait(what: str, check: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def committed(settings: Settings) -> dict[int, int]:
    group = t.TopicNames(settings).sink_group("notify")
    admin = KafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, **kafka_python_options(settings)
    )
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
    finally:
        admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items()}


def test_a_failing_webhook_keeps_the_backlog_bounded_and_every_alert_arrives_once(
    services: tuple[str, str], webhook: Webhook, tmp_path: Path
) -> None:
    settings = deployment(services, webhook, tmp_path)
    topic = t.TopicNames(settings).name(t.FRAUD_ALERTS)
    worker = Worker(settings, tmp_path / "worker.log")
    worker.start()
    try:
        producer = KafkaProducer(
            bootstrap_servers=settings.bootstrap_servers, **kafka_python_options(settings)
        )
        ids: list[str] = []
        first: dict[int, int] = {}  # the first alert's offset on each partition
        for i in range(ALERTS):
            alert_id = unique(f"bl{i}")
            payload = alert(customer_id=unique("c"), alert_id=alert_id, severity="high")
            sent = producer.send(topic, key=b"c", value=orjson.dumps(payload), partition=i % 2)
            meta = sent.get(timeout=30)
            first.setdefault(meta.partition, meta.offset)
            ids.append(alert_id)
        producer.close()

        # The feed pauses at the bound: the backlog gauge sits at 5 while back-pressure
        # seconds add up, and no commit passes the first (undelivered) alert.
        wait("back-pressure", lambda: metrics(settings).get(
            "withdrawguard_notification_backpressure_seconds_total", 0) > 1.0)  # fmt: skip
        levels = []
        for _ in range(10):
            levels.append(metrics(settings)["withdrawguard_notification_backlog"])
            time.sleep(0.2)
        assert max(levels) == BACKLOG and min(levels) == BACKLOG, levels
        assert webhook.refused > 2 * 4  # two in flight, each retried past the default 4
        for partition, offset in committed(settings).items():
            assert offset <= first[partition], (partition, offset, first)

        # A crash while paused: the alerts after the backlog were never taken from Kafka,
        # those in it were never committed; the next worker reads them all again.
        worker.stop(signal.SIGKILL)
        webhook.up.set()
        worker.start()
        wait("every alert delivered", lambda: set(webhook.delivered) >= set(ids), timeout=60)
        time.sleep(1.0)  # a repeat would arrive by now
        assert {i: n for i, n in webhook.delivered.items() if n != 1} == {}
        assert set(webhook.delivered) == set(ids)
        wait("the group committed to the end", lambda: committed(settings) == {
            p: ALERTS // 2 + first[p] for p in (0, 1)})  # fmt: skip
        assert metrics(settings)["withdrawguard_notification_backlog"] == 0
    finally:
        worker.stop()
