"""Notifications end to end: a worker of its own deployment, with WG_NOTIFY_CONFIG, sends
real webhooks to a local HTTP receiver and real e-mail (STARTTLS) to a local SMTP server."""

from __future__ import annotations

import asyncio
import email
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message as EmailMessage
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from redis.asyncio import Redis

from tests.integration.harness import (
    Bus,
    Worker,
    _free_port,
    collecting_bus,
    isolated_settings,
    unique,
)
from tests.integration.local_http import serving
from tests.integration.test_detector import attacker
from withdrawguard.adapters.notify import build_channels
from withdrawguard.adapters.notify.http import HttpClient
from withdrawguard.adapters.notify.redis_store import RedisDedup, RedisIncidents
from withdrawguard.adapters.notify.webhook import WebhookChannel
from withdrawguard.contract import topics as t
from withdrawguard.notify.config import NotifyConfig, parse_notify_config
from withdrawguard.notify.dedup import incident_key
from withdrawguard.notify.notifier import Notifier, Source
from withdrawguard.notify.signing import HEADER, verify_signature
from withdrawguard.settings import Settings
from withdrawguard.sim import scenarios as s

pytestmark = pytest.mark.integration

SECRET = "whsec-integration-test"
FLAKY_FAILURES = 3


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when it arrived

    @property
    def json(self) -> dict[str, Any]:
        return dict(orjson.loads(self.body))


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1: `/ok/*` answers 200, `/flaky/*` answers 503 to the
    first three tries of each delivery, `/down/*` always 500. Records the 200s."""

    port: int = 0
    ok: list[Received] = field(default_factory=list)
    refused: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle(self, request: web.Request) -> web.Response:
        got = Received(request.path, dict(request.headers), await request.read(), time.monotonic())
        kind = request.path.split("/")[1]
        delivery = request.headers.get("X-Withdrawguard-Delivery", "")
        with self.lock:
            tries = sum(
                1 for r in self.refused if r.headers.get("X-Withdrawguard-Delivery") == delivery
            )
            fail = kind == "down" or (kind == "flaky" and tries < FLAKY_FAILURES)
            (self.refused if fail else self.ok).append(got)
        return web.Response(status=(500 if kind == "down" else 503) if fail else 200)

    def messages(self, path: str, customer_id: str) -> list[Received]:
        with self.lock:
            return [
                r
                for r in self.ok
                if r.path == path and r.json.get("alert", {}).get("customer_id") == customer_id
            ]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    with serving(rec.handle) as port:
        rec.port = port
        yield rec


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[EmailMessage, bool]] = []  # (message, over TLS)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content)
        self.messages.append((msg, session.ssl is not None))
        return "250 OK"


@pytest.fixture(scope="module")
def smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path, Mailbox]]:
    """An SMTP server on 127.0.0.1 that requires STARTTLS, with a self-signed certificate."""
    d = tmp_path_factory.mktemp("smtp")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    box = Mailbox()
    port = _free_port()
    controller = Controller(
        box, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True
    )
    controller.start()
    yield port, cert, box
    controller.stop()


@pytest.fixture(scope="module")
def notify_settings(
    services: tuple[str, str],
    receiver: Receiver,
    smtp: tuple[int, Path, Mailbox],
    tmp_path_factory: pytest.TempPathFactory,
) -> Settings:
    """A second deployment (own topics, group and Redis keys) with notifications on."""
    d = tmp_path_factory.mktemp("notify")
    (d / "webhook-secret").write_text(SECRET)
    base = f"http://127.0.0.1:{receiver.port}"
    smtp_port, cert, _ = smtp
    hook = 'type = "webhook"\nsecret_file = "webhook-secret"\nmin_severity = "high"'
    (d / "notify.toml").write_text(
        f"""
[notify]
base_delay_seconds = 0.05
max_delay_seconds = 0.2
timeout_seconds = 3

[channels.hook]
{hook}
url = "{base}/ok/hook"

[channels.flaky]
{hook}
url = "{base}/flaky/hook"

[channels.down]
{hook}
url = "{base}/down/hook"

[channels.mail]
type = "email"
host = "127.0.0.1"
port = {smtp_port}
starttls = true
cafile = "{cert}"
from = "withdrawguard@example.test"
to = ["oncall@example.test"]
min_severity = "high"
"""
    )
    return isolated_settings(
        services,
        "notify",
        d / "worker",
        notify_config=d / "notify.toml",
        console_url="https://console.example.test",
    )


@pytest.fixture(scope="module")
def notify_bus(
    notify_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Bus]:
    worker = Worker(notify_settings, tmp_path_factory.mktemp("notify-logs") / "worker.log")
    worker.start()
    try:
        with collecting_bus(notify_settings, (t.FRAUD_ALERTS, t.DEAD_LETTERS)) as bus:
            yield bus
    finally:
        worker.stop()


@dataclass(frozen=True)
class Attack:
    customer_id: str
    alert: dict[str, Any]
    produced_at: float  # time.monotonic() just before the withdrawal was produced


@pytest.fixture(scope="module")
def attack(notify_bus: Bus, receiver: Receiver) -> Attack:
    """The SBI chain against a fresh customer; the withdrawal is produced last."""
    cid = unique("notify")
    ip, dest = attacker()
    chain = s.sbi_chain(cid, datetime.now(UTC) - timedelta(hours=1), dest, attacker_ip=ip)
    notify_bus.send(chain[:-1])
    notify_bus.wait_idle()
    produced_at = time.monotonic()
    notify_bus.send(chain[-1:])
    [alert] = notify_bus.wait_for(
        "the alert", lambda: notify_bus.values("fraud-alerts", customer_id=cid)
    )
    return Attack(cid, alert, produced_at)


def test_a_critical_sbi_alert_reaches_the_webhook_within_two_seconds_signed_once(
    attack: Attack, receiver: Receiver, notify_bus: Bus
) -> None:
    [got] = notify_bus.wait_for(
        "the webhook", lambda: receiver.messages("/ok/hook", attack.customer_id), timeout=10
    )
    latency = got.at - attack.produced_at
    print(f"\nwithdrawal produced -> webhook received: {latency * 1000:.0f} ms")
    assert latency < 2.0
    assert attack.alert["severity"] == "critical"
    assert verify_signature(SECRET, got.headers[HEADER], got.body, time.time())
    assert not verify_signature(SECRET, got.headers[HEADER], got.body + b" ", time.time())
    body = got.json
    assert body["alert"] == attack.alert
    assert f"https://console.example.test/customers/{attack.customer_id}" in body["message"]["text"]
    time.sleep(1.5)  # any repeat would have arrived by now
    assert len(receiver.messages("/ok/hook", attack.customer_id)) == 1


def test_a_receiver_failing_three_times_then_recovering_gets_exactly_one_message(
    attack: Attack, receiver: Receiver, notify_bus: Bus
) -> None:
    notify_bus.wait_for(
        "the flaky webhook", lambda: receiver.messages("/flaky/hook", attack.customer_id)
    )
    time.sleep(1.0)
    assert len(receiver.messages("/flaky/hook", attack.customer_id)) == 1
    delivery = receiver.messages("/flaky/hook", attack.customer_id)[0].headers[
        "X-Withdrawguard-Delivery"
    ]
    refused = [r for r in receiver.refused if r.headers.get("X-Withdrawguard-Delivery") == delivery]
    assert len(refused) == FLAKY_FAILURES


def test_a_receiver_that_never_recovers_ends_in_dead_letters(
    attack: Attack, notify_bus: Bus
) -> None:
    [record] = notify_bus.wait_for(
        "the dead letter",
        lambda: notify_bus.values(
            "dead-letters", channel="down", alert_id=attack.alert["alert_id"]
        ),
    )
    assert record["source_topic"] == notify_bus.name("fraud-alerts")
    assert record["key"] == attack.customer_id
    assert "HTTP 500" in record["error"]
    assert orjson.loads(record["payload"]) == attack.alert
    assert SECRET not in str(record)


def test_email_arrives_over_starttls_with_plain_and_html_parts(
    attack: Attack, smtp: tuple[int, Path, Mailbox], notify_bus: Bus
) -> None:
    _, _, box = smtp
    [(msg, over_tls)] = notify_bus.wait_for(
        "the e-mail",
        lambda: [(m, tls) for m, tls in box.messages if attack.customer_id in str(m["Subject"])],
    )
    assert over_tls
    assert msg.get_content_type() == "multipart/alternative"
    parts = {
        p.get_content_type(): p.get_payload(decode=True).decode()
        for p in msg.walk()
        if not p.is_multipart()
    }
    assert "Customer: " + attack.customer_id in parts["text/plain"]
    assert "<html>" in parts["text/html"]
    assert attack.alert["alert_id"] in parts["text/plain"]


async def test_dedup_holds_across_two_notifier_instances_sharing_redis(
    services: tuple[str, str], receiver: Receiver
) -> None:
    raw = {
        "notify": {"timeout_seconds": 3},
        "channels": {
            "hook": {
                "type": "webhook",
                "url": f"http://127.0.0.1:{receiver.port}/ok/shared",
                "secret_env": "S",
                "min_severity": "low",
            }
        },
    }
    config: NotifyConfig = parse_notify_config(raw, {"S": SECRET})
    prefix = f"wg:dedup-it-{uuid.uuid4().hex[:8]}:notify"
    redis = Redis.from_url(services[1])
    notifiers = []
    for _ in range(2):
        http = HttpClient()

        async def no_dead_letters(key: bytes | None, record: dict[str, Any]) -> None:
            raise AssertionError(record)

        notifiers.append(
            Notifier(
                config,
                {
                    "hook": WebhookChannel(
                        "hook", config.channels[0].url, config.channels[0].secret, http
                    )
                },  # type: ignore[arg-type]
                dedup=RedisDedup(redis),
                dead_letters=no_dead_letters,
                console_url="http://console",
                prefix=prefix,
                closers=(http.close,),
            )
        )
    cid = unique("dedup")
    alerts = [
        {"alert_id": f"{cid}-{i}", "customer_id": cid, "severity": "high", "withdrawal_id": f"W{i}",
         "rule_codes": ["DEST_CHANGED_RECENTLY", "DRAIN"], "summary": "held", "evidence": []}
        for i in range(2)
    ]  # fmt: skip
    acks: list[str] = []
    source = Source("fraud-alerts", 0, 0, cid.encode(), b"{}")
    await asyncio.gather(
        *(
            n.submit(a, source, lambda a=a: acks.append(a["alert_id"]))
            for n, a in zip(notifiers, alerts, strict=True)
        )
    )
    for n in notifiers:
        await n.drain()
        await n.stop()
    await redis.aclose()
    got = [
        r for r in receiver.ok if r.path == "/ok/shared" and r.json["alert"]["customer_id"] == cid
    ]
    assert len(got) == 1
    assert sorted(acks) == sorted(a["alert_id"] for a in alerts)


async def test_pagerduty_triggers_then_resolves_when_the_hold_is_released(
    services: tuple[str, str], receiver: Receiver
) -> None:
    raw = {
        "channels": {
            "pd": {
                "type": "pagerduty",
                "url": f"http://127.0.0.1:{receiver.port}/ok/pagerduty",
                "secret_env": "K",
                "min_severity": "high",
            }
        }
    }
    config = parse_notify_config(raw, {"K": "routing-key"})
    prefix = f"wg:pd-it-{uuid.uuid4().hex[:8]}:notify"
    redis = Redis.from_url(services[1])
    http = HttpClient()

    async def no_dead_letters(key: bytes | None, record: dict[str, Any]) -> None:
        raise AssertionError(record)

    notifier = Notifier(
        config,
        build_channels(config, http),
        dedup=RedisDedup(redis),
        incidents=RedisIncidents(redis, prefix),
        dead_letters=no_dead_letters,
        console_url="http://console",
        prefix=prefix,
        closers=(http.close,),
    )
    cid = unique("pd")
    alert = {"alert_id": f"{cid}-a", "customer_id": cid, "severity": "critical",
             "withdrawal_id": f"{cid}-w", "rule_codes": ["DRAIN"], "summary": "held",
             "evidence": []}  # fmt: skip
    source = Source("fraud-alerts", 0, 0, cid.encode(), b"{}")
    acks: list[str] = []
    await notifier.submit(alert, source, lambda: acks.append("alert"))
    hold = {"withdrawal_id": f"{cid}-w", "status": "released"}
    await notifier.hold_update(hold, source, lambda: acks.append("hold"))
    await notifier.drain()
    await notifier.stop()
    await redis.aclose()
    incident = incident_key(cid, ["DRAIN"])
    with receiver.lock:
        events = [orjson.loads(r.body) for r in receiver.ok if r.path == "/ok/pagerduty"]
    mine = [e for e in events if e["dedup_key"] == incident]
    assert [e["event_action"] for e in mine] == ["trigger", "resolve"]
    assert mine[0]["routing_key"] == "routing-key"
    assert mine[0]["payload"]["severity"] == "critical"
    assert sorted(acks) == ["alert", "hold"]
