"""An alert still being delivered is never committed past, even when a later alert of the
same partition is delivered first; after a kill and restart it is delivered.

The alerts are produced straight onto the deployment's `fraud-alerts` topic (partition 0,
as the detector would write them): a critical one, routed to a channel whose receiver
refuses until the test opens its gate, then a high one, routed only to a channel that
answers at once. Faust's commit bookkeeping let exactly this pass (a single unfinished
offset at the head of a partition did not stop a commit); the notify sink commits only
below the first unfinished record (`streaming/sinks/consumer.py`)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
from aiohttp import web
from kafka import KafkaAdminClient, KafkaProducer, TopicPartition

from tests.integration.harness import Worker, isolated_settings, unique
from tests.integration.local_http import serving
from tests.unit.notify_fakes import alert
from withdrawguard.adapters.kafka_security import kafka_python_options
from withdrawguard.contract import topics as t
from withdrawguard.settings import Settings

pytestmark = pytest.mark.integration


@dataclass
class Gate:
    """`/gate/*` answers 503 until opened, `/ok/*` 200; records the alert ids taken."""

    port: int = 0
    open: threading.Event = field(default_factory=threading.Event)
    taken: dict[str, list[str]] = field(default_factory=lambda: {"gate": [], "ok": []})

    async def handle(self, request: web.Request) -> web.Response:
        kind = request.path.split("/")[1]
        if kind == "gate" and not self.open.is_set():
            return web.Response(status=503)
        body = orjson.loads(await request.read())
        self.taken[kind].append(body["alert"]["alert_id"])
        return web.Response(status=200)


@pytest.fixture
def gate() -> Iterator[Gate]:
    g = Gate()
    with serving(g.handle) as port:
        g.port = port
        yield g


def settings_for(services: tuple[str, str], gate: Gate, d: Path) -> Settings:
    (d / "secret").write_text("whsec-notify-recovery")
    base = f"http://127.0.0.1:{gate.port}"
    (d / "notify.toml").write_text(
        f"""
[notify]
attempts = 100000
base_delay_seconds = 0.05
max_delay_seconds = 0.2
timeout_seconds = 2

[channels.pager]
type = "webhook"
secret_file = "secret"
min_severity = "critical"
url = "{base}/gate/pager"

[channels.team]
type = "webhook"
secret_file = "secret"
min_severity = "high"
url = "{base}/ok/team"
"""
    )
    return isolated_settings(services, "notifyrec", d / "worker", notify_config=d / "notify.toml")


def wait(what: str, check: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_an_alert_in_delivery_is_not_committed_past_and_survives_a_kill(
    services: tuple[str, str], gate: Gate, tmp_path: Path
) -> None:
    settings = settings_for(services, gate, tmp_path)
    worker = Worker(settings, tmp_path / "worker.log")
    worker.start()
    try:
        first, second = unique("critical"), unique("high")
        topic = t.TopicNames(settings).name(t.FRAUD_ALERTS)
        security = kafka_python_options(settings)
        producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, **security)
        offsets = []
        for alert_id, severity in ((first, "critical"), (second, "high")):
            payload = alert(customer_id=unique("c"), alert_id=alert_id, severity=severity)
            sent = producer.send(topic, key=b"c", value=orjson.dumps(payload), partition=0)
            offsets.append(sent.get(timeout=30).offset)
        producer.close()

        # The high alert, and the critical one on its answering channel, are delivered; the
        # critical one is still retrying on the gated channel, so it is not finished.
        both = {first, second}
        wait("both alerts on the answering channel", lambda: both <= set(gate.taken["ok"]))
        time.sleep(3)  # the feed commits after every fetch (at most every 0.5 s)
        group = t.TopicNames(settings).sink_group("notify")
        admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, **security)
        try:
            committed = admin.list_group_offsets(group).get(group, {})
        finally:
            admin.close()
        tp = TopicPartition(topic, 0)
        assert tp not in committed or committed[tp].offset <= offsets[0], (
            f"committed {committed[tp].offset} past the unfinished alert at {offsets[0]}"
        )
        assert gate.taken["gate"] == []

        worker.stop(signal.SIGKILL)
        gate.open.set()
        worker.start()
        wait("the critical alert delivered after the restart", lambda: first in gate.taken["gate"])
    finally:
        worker.stop()  # also when an assertion failed: no worker left running
