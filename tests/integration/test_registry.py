"""The hold registry end to end: a worker of its own deployment writing to a private
redis-server (so stopping it never disturbs the shared one), read by the payment client
and the worker's decision API; Redis stopped and started mid-stream; `registry rebuild`
into another namespace gives the same registry."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from kafka import KafkaConsumer, KafkaProducer

from tests.integration.harness import (
    ROOT,
    Bus,
    Worker,
    _free_port,
    env_of,
    isolated_settings,
    unique,
)
from tests.integration.test_detector import attacker
from withdrawguard.client import DecisionClient
from withdrawguard.contract import topics as t
from withdrawguard.registry.keys import RegistryKeys, registry_prefix
from withdrawguard.settings import Settings
from withdrawguard.sim import scenarios as s

# The issue asks for Redis to stay down a minute mid-stream; set lower for quick local runs.
REDIS_OUTAGE_SECONDS = float(os.environ.get("WG_TEST_REDIS_OUTAGE_SECONDS", "60"))

pytestmark = pytest.mark.integration
TOKEN = "svc-token-registry-test"


@dataclass
class PrivateRedis:
    """A redis-server of this module only, with an append-only file so a restart keeps
    what it had (as a production Redis with persistence does)."""

    port: int
    directory: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.directory), "--save", "", "--appendonly", "yes",
             "--appendfsync", "always"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        pytest.fail(f"private redis-server on port {self.port} did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: redis-server flushes its AOF and exits
            self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    r = PrivateRedis(_free_port(), tmp_path_factory.mktemp("redis"))
    r.start()
    yield r
    r.stop()


@dataclass
class Outputs:
    """Every record on the deployment's outputs, with its Kafka timestamp (ms)."""

    records: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def verdicts(self, wid: str) -> list[tuple[int, dict[str, Any]]]:
        with self.lock:
            return [
                (ts, v)
                for topic, ts, v in self.records
                if topic.endswith("withdrawal-decisions") and v["withdrawal_id"] == wid
            ]


@dataclass
class Deployment:
    settings: Settings
    bus: Bus
    outputs: Outputs
    client: DecisionClient

    def api(self, wid: str, token: str | None = TOKEN) -> tuple[int, dict[str, Any]]:
        url = f"http://127.0.0.1:{self.settings.web_port}/api/withdrawals/{wid}/decision"
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        request = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310
                return resp.status, orjson.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, orjson.loads(err.read())


@pytest.fixture(scope="module")
def deployment(
    services: tuple[str, str],
    private_redis: PrivateRedis,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployment]:
    d = tmp_path_factory.mktemp("registry")
    (d / "tokens").write_text(f"# payments\n{TOKEN}\n", encoding="utf-8")
    settings = isolated_settings(
        (services[0], private_redis.url),
        "registry",
        d / "worker",
        service_tokens_file=d / "tokens",
    )
    worker = Worker(settings, d / "worker.log")
    worker.start()
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, linger_ms=1)
    outputs = Outputs()
    names = t.TopicNames(settings)
    consumer = KafkaConsumer(
        names.name(t.WITHDRAWAL_DECISIONS),
        names.name(t.WITHDRAWAL_HOLDS),
        bootstrap_servers=settings.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=None,
        consumer_timeout_ms=100,
    )
    stop = threading.Event()

    def collect() -> None:
        while not stop.is_set():
            for msg in consumer:
                with outputs.lock:
                    outputs.records.append((msg.topic, msg.timestamp, orjson.loads(msg.value)))

    thread = threading.Thread(target=collect, daemon=True)
    thread.start()
    client = DecisionClient(settings.redis_url, settings.app_id)
    yield Deployment(settings, Bus(settings, producer), outputs, client)
    client.close()
    stop.set()
    thread.join(5)
    consumer.close()
    producer.close()
    worker.stop()


def attack(dep: Deployment, tag: str) -> tuple[str, str]:
    cid = unique(tag)
    ip, dest = attacker()
    chain = s.sbi_chain(cid, datetime.now(UTC) - timedelta(hours=1), dest, attacker_ip=ip)
    dep.bus.send(chain[:-1])
    dep.bus.wait_idle()  # the evidence first: the withdrawal's verdict is then final at once
    dep.bus.send(chain[-1:])
    return cid, f"{cid}-wd-attack"


def test_a_held_sbi_withdrawal_is_visible_to_the_client_and_the_api_within_a_second(
    deployment: Deployment,
) -> None:
    cid, wid = attack(deployment, "reg-held")
    seen_at = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if deployment.client.decision(wid).decision == "hold":
            seen_at = time.time()
            break
        time.sleep(0.005)
    assert seen_at is not None, "the hold never reached the registry"
    holds = deployment.bus.wait_for(
        "the verdict",
        lambda: [(ts, v) for ts, v in deployment.outputs.verdicts(wid) if v["decision"] == "hold"],
    )
    lag = seen_at - holds[0][0] / 1000  # from the first hold verdict's Kafka timestamp
    print(f"\nverdict on withdrawal-decisions -> readable in the registry: {lag * 1000:.0f} ms")
    assert lag < 1.0
    # The verdict and the hold record travel on two topics, in either order: wait (at most
    # a second) until the registry holds both before comparing the client with the API.
    answer = deployment.bus.wait_for(
        "the verdict and the hold status",
        lambda: (
            (a := deployment.client.decision(wid)).hold_status == "held"
            and a.verdict == "hold"
            and a.decided_at is not None
            and a
        ),
        timeout=1,
    )
    assert answer.customer_id == cid
    assert "DRAIN" in {r["code"] for r in answer.reasons}
    status, body = deployment.api(wid)
    assert status == 200 and body == answer.to_json()
    keys = RegistryKeys(registry_prefix(deployment.settings.app_id))
    r = redis.Redis.from_url(deployment.settings.redis_url)
    assert r.zscore(keys.open_holds, wid) is not None
    assert r.zscore(keys.open_holds_of(cid), wid) is not None


def test_the_api_refuses_a_missing_or_wrong_token_and_never_says_not_found(
    deployment: Deployment,
) -> None:
    assert deployment.api("W-anything", token=None) == (
        401, {"error": "unauthorized", "reason": "missing bearer token"},
    )  # fmt: skip
    assert deployment.api("W-anything", token="wrong")[0] == 401
    status, body = deployment.api(unique("W-never-seen"))
    assert status == 200 and body["decision"] == "pending" and body["verdict"] is None


def test_a_release_case_decision_reaches_the_registry_as_allow(deployment: Deployment) -> None:
    cid, wid = attack(deployment, "reg-release")
    deployment.bus.wait_for("the hold", lambda: deployment.client.decision(wid).hold_status)
    release = s.case(cid, unique("dec"), datetime.now(UTC), "release", withdrawal_id=wid,
                     actor="analyst.sato", note="call-back to the registered number")  # fmt: skip
    deployment.bus.send([release])
    answer = deployment.bus.wait_for(
        "the release",
        lambda: (a := deployment.client.decision(wid)).hold_status == "released" and a,
    )
    assert answer.decision == "allow" and answer.may_pay_out
    fields = redis.Redis.from_url(deployment.settings.redis_url, decode_responses=True).hgetall(
        RegistryKeys(registry_prefix(deployment.settings.app_id)).withdrawal(wid)
    )
    assert fields["actor"] == "analyst.sato"
    assert fields["note"] == "call-back to the registered number"
    keys = RegistryKeys(registry_prefix(deployment.settings.app_id))
    assert redis.Redis.from_url(deployment.settings.redis_url).zscore(keys.open_holds, wid) is None


def registry_dump(url: str, app_id: str) -> dict[str, Any]:
    r = redis.Redis.from_url(url, decode_responses=True)
    keys = RegistryKeys(registry_prefix(app_id))
    out: dict[str, Any] = {}
    for pattern in keys.patterns():
        for key in r.scan_iter(match=pattern):
            name = key[len(keys.prefix) :]
            kind = r.type(key)
            if kind == "hash":
                out[name] = r.hgetall(key)
            elif kind == "zset":
                out[name] = r.zrange(key, 0, -1, withscores=True)
            else:
                out[name] = r.get(key)
    return out


def test_with_redis_stopped_mid_stream_no_verdict_is_lost_and_the_registry_matches_a_rebuild(
    deployment: Deployment, private_redis: PrivateRedis
) -> None:
    before = [attack(deployment, "reg-before")[1] for _ in range(2)]
    for wid in before:
        deployment.bus.wait_for("a hold", lambda wid=wid: deployment.client.decision(wid).verdict)
    private_redis.stop()
    down_at = time.monotonic()
    during = [attack(deployment, "reg-during")[1] for _ in range(3)]
    honest = unique("reg-honest")
    deployment.bus.send(s.honest_withdrawal(honest, datetime.now(UTC) - timedelta(hours=1)))
    # Detection goes on without Redis: every verdict reaches Kafka.
    for wid in during:
        deployment.bus.wait_for("a verdict", lambda wid=wid: deployment.outputs.verdicts(wid))
    assert deployment.client.decision(during[0]).fail_closed  # meanwhile payment holds
    status, body = deployment.api(during[0])
    assert status == 503 and body["decision"] == "hold" and body["fail_closed"]
    time.sleep(max(0.0, REDIS_OUTAGE_SECONDS - (time.monotonic() - down_at)))
    private_redis.start()
    back_at = time.monotonic()
    for wid in before + during:
        answer = deployment.bus.wait_for(
            "the registry to catch up",
            lambda wid=wid: (a := deployment.client.decision(wid)).verdict and a,
            timeout=20,
        )
        assert answer.decision == "hold"
    print(f"\nregistry caught up {time.monotonic() - back_at:.1f} s after Redis came back")
    deployment.bus.wait_idle()
    rebuilt = replace(deployment.settings, app_id=deployment.settings.app_id + "-rebuilt")
    result = subprocess.run(
        [sys.executable, "-m", "withdrawguard", "registry", "rebuild"],
        env=env_of(rebuilt), cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "done:" in result.stdout
    again = registry_dump(private_redis.url, rebuilt.app_id)
    assert {k for k in again if k.startswith("wd:")} >= {f"wd:{w}" for w in before + during}
    # The live registry may still be writing the last outputs: give it a moment to agree.
    deployment.bus.wait_for(
        "the live registry to equal the rebuilt one",
        lambda: registry_dump(private_redis.url, deployment.settings.app_id) == again,
        timeout=10,
    )
