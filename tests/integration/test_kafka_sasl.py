"""Kafka over SASL_SSL with SCRAM-SHA-512: strangers and wrong passwords are refused, and
the worker, the topic administration, the scan's Kafka input and the registry rebuild
all work with the credentials from the settings (the worker's Redis, too, is the one
with a password, TLS and client certificates)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from tests.integration.harness import Worker, collecting_bus, isolated_settings, unique
from tests.integration.secure_kafka import USER, SecureKafka, answers
from tests.integration.secure_redis import SecureRedis
from tests.integration.test_detector import attacker
from withdrawguard.adapters.kafka_security import kafka_python_options
from withdrawguard.adapters.redis_connection import redis_options
from withdrawguard.client import DecisionClient
from withdrawguard.contract import topics as t
from withdrawguard.scan.kafka_input import KafkaSource
from withdrawguard.settings import Settings
from withdrawguard.sim import scenarios as s
from withdrawguard.streaming.sinks.registry_rebuild import rebuild

pytestmark = pytest.mark.integration


def test_a_client_without_credentials_is_refused(secure_kafka: SecureKafka) -> None:
    tls_only = {"security_protocol": "SSL", "ssl_cafile": str(secure_kafka.pki.ca)}
    assert not answers(secure_kafka.bootstrap, timeout_ms=5000, **tls_only)
    assert not answers(secure_kafka.bootstrap, timeout_ms=5000)  # plaintext to the TLS port
    assert answers(secure_kafka.bootstrap, **secure_kafka.client_options())  # the control


def test_a_wrong_password_is_refused_and_the_broker_says_why(
    secure_kafka: SecureKafka, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password\n")
    settings = Settings(**(secure_kafka.settings() | {"kafka_sasl_password_file": wrong}))
    with pytest.raises(KafkaError):
        KafkaAdminClient(
            bootstrap_servers=settings.bootstrap_servers,
            bootstrap_timeout_ms=5000,
            **kafka_python_options(settings),
        ).list_topics()
    log = secure_kafka.log.read_text(errors="replace")
    assert "invalid credentials with SASL mechanism SCRAM-SHA-512" in log


def test_the_worker_with_credentials_decides_a_withdrawal_end_to_end(
    secure_kafka: SecureKafka,
    secure_redis: SecureRedis,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    d = tmp_path_factory.mktemp("sasl-worker")
    settings = isolated_settings(  # creates its topics over SASL_SSL
        (secure_kafka.bootstrap, secure_redis.url),
        "sasl",
        d / "worker",
        **secure_kafka.settings(),
        **secure_redis.settings(),
    )
    worker = Worker(settings, d / "worker.log")
    worker.start()
    try:
        with collecting_bus(settings, [t.WITHDRAWAL_DECISIONS]) as bus:
            cid = unique("victim")
            ip, dest = attacker()
            chain = s.sbi_chain(cid, datetime.now(UTC) - timedelta(hours=1), dest, attacker_ip=ip)
            bus.send(chain[:-1])
            bus.wait_idle(timeout=90)
            bus.send(chain[-1:])
            wid = f"{cid}-wd-attack"
            [verdict] = bus.wait_for(
                "the verdict over SASL_SSL",
                lambda: bus.values(t.WITHDRAWAL_DECISIONS, withdrawal_id=wid),
                timeout=90,
            )
            assert verdict["decision"] == "hold"
            # The registry projector wrote the hold over TLS; a payment system reads it.
            options = redis_options(settings)
            with DecisionClient(settings.redis_url, settings.app_id, **options) as client:
                assert client.await_decision(wid, timeout=60).decision == "hold"
    finally:
        worker.stop()
    log = (d / "worker.log").read_text(errors="replace")
    password = secure_kafka.password_file.read_text().strip()
    assert password not in log, "the worker logged its SASL password"
    assert f"username={USER}" not in log or "password" not in log.split(f"username={USER}")[1][:80]

    source = KafkaSource(settings)  # the scan reads the input topics with the same login
    assert sum(1 for _ in source) == len(chain)
    assert rebuild(settings, out=lambda _line: None) > 0  # so does the registry rebuild
