"""The local three-node Kafka cluster of `scripts/kafka-cluster.sh`, as the cluster faults
use it: started through the script when it is not up, its nodes found by the pid files
the script writes, and what replication must hold for a deployment on it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from tests.integration.harness import ROOT
from withdrawguard.settings import Settings

SCRIPT = ROOT / "scripts" / "kafka-cluster.sh"
DIR = Path(os.environ.get("WG_CLUSTER_DIR", str(ROOT / ".local" / "cluster")))
REPLICATION_FACTOR = 3
MIN_INSYNC = 2


def script(*args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    """Run `scripts/kafka-cluster.sh` with `args`; its output is the test's."""
    result = subprocess.run(
        [str(SCRIPT), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    print(result.stdout + result.stderr, end="")
    return result


def operate(*args: str) -> None:
    """A step an operator takes (`stop 2`, `start 2`, `wait-insync`); fails the test when
    the script does."""
    result = script(*args)
    assert result.returncode == 0, f"kafka-cluster.sh {' '.join(args)}: {result.stderr}"


def cluster_services() -> tuple[str, str]:
    """(bootstrap of the three brokers, URL of the Redis beside them), the cluster started
    through the script when it is not up. Never a skip: without a cluster the test fails
    and says how to start one (CI included)."""
    if script("status").returncode != 0:
        result = script("up")
        if result.returncode != 0:
            pytest.fail(
                "the three-broker faults need the local cluster, and `scripts/kafka-cluster.sh "
                f"up` failed (Java 17 and Maven for the jars, redis-server):\n{result.stderr}",
                pytrace=False,
            )
    bootstrap = script("bootstrap").stdout.strip()
    port = os.environ.get("WG_CLUSTER_REDIS_PORT", "29379")
    return bootstrap, f"redis://127.0.0.1:{port}/0"


def node_pid(node: int) -> int:
    return int((DIR / f"node-{node}" / "pid").read_text().strip())


def leader_of(bootstrap: str, topic: str, partition: int) -> int:
    """The node id leading `topic`'s `partition` (node ids are the script's 1, 2, 3)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        for p in admin.describe_topics([topic])[0]["partitions"]:
            if p["partition_index"] == partition:
                return int(p["leader_id"])
    finally:
        admin.close()
    raise AssertionError(f"no partition {partition} of {topic}")


def replication_problems(settings: Settings) -> list[str]:
    """Every topic of the deployment (ours and Faust's: changelogs, the assignor's leader
    topic) with a replication factor other than 3 or an effective min.insync.replicas
    other than 2."""
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        mine = [
            n
            for n in admin.list_topics()
            if n.startswith((settings.topic_prefix, f"{settings.app_id}-"))
        ]
        problems = []
        for topic in admin.describe_topics(mine):
            factors = {len(p["replica_nodes"]) for p in topic["partitions"]}
            if factors != {REPLICATION_FACTOR}:
                problems.append(f"{topic['name']}: replication factor {sorted(factors)}")
        configs = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, n) for n in mine], config_filter="all"
        )["topic"]
        for name, config in configs.items():
            value = config["min.insync.replicas"]["value"]
            if value != str(MIN_INSYNC):
                problems.append(f"{name}: min.insync.replicas {value}")
    finally:
        admin.close()
    return problems if mine else ["the deployment has no topics on the cluster"]
