"""What scripts/kafka-cluster.sh asks of the three-node cluster, with kafka-python's admin
client (the Maven jars hold no kafka-topics tool).

cluster_probe.py brokers BOOTSTRAP N             exit 0 when N brokers are registered
cluster_probe.py insync BOOTSTRAP                exit 0 when no partition is under-replicated
                                                 (every replica in the ISR); else prints
                                                 how many are
cluster_probe.py leader BOOTSTRAP TOPIC PART     prints the node id leading the partition
"""

from __future__ import annotations

import sys
from typing import Any

from kafka import KafkaAdminClient


def _admin(bootstrap: str) -> KafkaAdminClient:
    return KafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=5000, client_id="wg-cluster-probe"
    )


def under_replicated(described: list[dict[str, Any]]) -> list[str]:
    """`topic/partition` of every partition with a replica outside its ISR, or no leader."""
    out = []
    for topic in described:
        for p in topic["partitions"]:
            if set(p["isr_nodes"]) != set(p["replica_nodes"]) or p["leader_id"] < 0:
                out.append(f"{topic['name']}/{p['partition_index']}")
    return out


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] not in ("brokers", "insync", "leader"):
        print(__doc__, file=sys.stderr)
        return 2
    admin = _admin(argv[2])
    try:
        if argv[1] == "brokers":
            return 0 if len(admin.describe_cluster()["brokers"]) >= int(argv[3]) else 1
        described = admin.describe_topics(argv[3:4] or None)
        if argv[1] == "insync":
            behind = under_replicated(described)
            if behind:
                print(f"{len(behind)} under-replicated partitions, e.g. {behind[:3]}")
            return 1 if behind else 0
        for p in described[0]["partitions"]:
            if p["partition_index"] == int(argv[4]):
                print(p["leader_id"])
                return 0
        return 1
    finally:
        admin.close()


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Exception as exc:  # noqa: BLE001 - any failure means "not yet": the caller retries
        print(f"cluster probe: {exc}", file=sys.stderr)
        sys.exit(1)
