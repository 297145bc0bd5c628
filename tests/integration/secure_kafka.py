"""A Kafka broker with only a SASL_SSL listener (SCRAM-SHA-512), started by the tests.

Single KRaft node from the jars `make up` fetched into .local/kafka/libs, run with this
machine's Java, on two free ports. TLS uses a CA made for the session (`tls.make_pki`),
Kafka reading PEM files directly. The SCRAM users are created when the storage is
formatted (`--add-scram`): `admin` (the broker's own inter-broker login) and `wg`, the
user withdrawguard connects as. The controller listener is plaintext on loopback and
serves only the controller quorum, never clients.

`acl_kafka` is the same broker with Kafka's authorizer on (`StandardAuthorizer`, no ACL
means no access) and the two users of docs/security.md's grants, `withdrawguard` (the
workers) and `withdrawguard-policy` (the admins' command); `admin` is the super user.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from tests.integration.harness import ROOT, _free_port
from tests.integration.tls import Pki, make_pki

LIBS = ROOT / ".local" / "kafka" / "libs"
LOG4J = ROOT / "deploy" / "kafka" / "log4j2.properties"
USER = "wg"
ADMIN_PASSWORD = "admin-" + uuid.uuid4().hex


@dataclass
class SecureKafka:
    bootstrap: str
    pki: Pki
    password_file: Path
    log: Path

    def client_options(self) -> dict[str, Any]:
        """kafka-python options that log in as `wg`."""
        return {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": USER,
            "sasl_plain_password": self.password_file.read_text().strip(),
            "ssl_cafile": str(self.pki.ca),
        }

    def settings(self) -> dict[str, Any]:
        """The withdrawguard settings that connect as `wg` over SASL_SSL."""
        return {
            "kafka_bootstrap": self.bootstrap,
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": "SCRAM-SHA-512",
            "kafka_sasl_username": USER,
            "kafka_sasl_password_file": self.password_file,
            "kafka_ssl_cafile": self.pki.ca,
        }


AUTHORIZER = """
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
# admin: the inter-broker login; ANONYMOUS: the loopback controller listener's requests
super.users=User:admin;User:ANONYMOUS
"""


def _properties(data: Path, port: int, controller: int, pki: Pki) -> str:
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="admin" password="{ADMIN_PASSWORD}";'
    )
    return f"""
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller}
listeners=SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=SASL_SSL://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_SSL
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={jaas}
ssl.keystore.type=PEM
ssl.keystore.location={pki.server_keystore}
ssl.truststore.type=PEM
ssl.truststore.location={pki.ca}
log.dirs={data}
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
num.network.threads=2
num.io.threads=2
"""


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        pytest.fail("Java 17+ is needed for the SASL_SSL broker (apt-get install "
                    "openjdk-17-jre-headless)", pytrace=False)  # fmt: skip
    if not any(LIBS.glob("kafka_*.jar")):
        pytest.fail(f"no Kafka jars in {LIBS}: run `make up` once to fetch them", pytrace=False)
    return java


def answers(bootstrap: str, timeout_ms: int = 10_000, **security: Any) -> bool:
    """Whether a kafka-python client with these options can list the topics."""
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            request_timeout_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
            **security,
        )
    except KafkaError:
        return False
    try:
        admin.list_topics()
        return True
    finally:
        admin.close()


@pytest.fixture(scope="session")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureKafka]:
    yield from _broker(tmp_path_factory.mktemp("sasl-kafka"), [USER], "")


@dataclass
class AclKafka:
    bootstrap: str
    pki: Pki
    passwords: dict[str, Path]
    """user -> its password file (`admin` included)."""
    log: Path

    def settings(self, user: str) -> dict[str, Any]:
        """The withdrawguard settings that connect as `user` over SASL_SSL."""
        return {
            "kafka_bootstrap": self.bootstrap,
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": "SCRAM-SHA-512",
            "kafka_sasl_username": user,
            "kafka_sasl_password_file": self.passwords[user],
            "kafka_ssl_cafile": self.pki.ca,
        }


@pytest.fixture(scope="session")
def acl_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AclKafka]:
    base = tmp_path_factory.mktemp("acl-kafka")
    users = ["withdrawguard", "withdrawguard-policy"]
    for broker in _broker(base, users, AUTHORIZER):
        passwords = {u: base / f"{u}.password" for u in users}
        admin = base / "admin.password"
        admin.write_text(ADMIN_PASSWORD + "\n")
        yield AclKafka(broker.bootstrap, broker.pki, passwords | {"admin": admin}, broker.log)


def _broker(base: Path, users: list[str], extra: str) -> Iterator[SecureKafka]:
    """A SASL_SSL broker in `base` with `users` (each password in `<user>.password`; the
    first is the one `SecureKafka` logs in as) and `extra` properties."""
    java = _java()
    pki = make_pki(base / "pki")
    scram = []
    for user in users:
        password = f"{user}-" + uuid.uuid4().hex
        (base / f"{user}.password").write_text(password + "\n")
        scram += ["--add-scram", f"SCRAM-SHA-512=[name={user},password={password}]"]
    port, controller = _free_port(), _free_port()
    conf = base / "server.properties"
    conf.write_text(_properties(base / "data", port, controller, pki) + extra)
    log = base / "kafka.log"
    cp = ["-cp", f"{LIBS}/*", f"-Dlog4j2.configurationFile={LOG4J}"]
    # A Kafka cluster id is 16 bytes in URL-safe base64; one that starts with "-" (1 in
    # 64) is read by StorageTool's argument parser as an option, and the format fails.
    cluster = "-"
    while cluster.startswith("-"):
        cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    with log.open("ab") as out:
        subprocess.run(
            [java, *cp, "kafka.tools.StorageTool", "format", "-t", cluster, "-c", str(conf),
             "--add-scram", f"SCRAM-SHA-512=[name=admin,password={ADMIN_PASSWORD}]", *scram],
            stdout=out, stderr=subprocess.STDOUT, check=True, timeout=120,
        )  # fmt: skip
        proc = subprocess.Popen(
            [java, "-Xms128m", "-Xmx512m", *cp, "kafka.Kafka", str(conf)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "KAFKA_HEAP_OPTS": ""},
        )
    broker = SecureKafka(f"127.0.0.1:{port}", pki, base / f"{users[0]}.password", log)
    security = broker.client_options() | {
        "sasl_plain_username": "admin",
        "sasl_plain_password": ADMIN_PASSWORD,
    }
    try:
        deadline = time.monotonic() + 120
        while not answers(broker.bootstrap, **security):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the SASL_SSL broker did not start; read {log}", pytrace=False)
            time.sleep(0.5)
        yield broker
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
