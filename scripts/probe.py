"""Readiness probe for the local stack: exits 0 when the service answers.

probe.py kafka HOST:PORT      a metadata request answered by the broker
probe.py redis redis://...    PING answered with PONG
"""

from __future__ import annotations

import sys


def kafka_ready(bootstrap: str) -> bool:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=3000, client_id="wg-probe"
    )
    try:
        admin.list_topics()
        return bool(admin.describe_cluster().get("brokers"))
    finally:
        admin.close()


def redis_ready(url: str) -> bool:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        return bool(client.ping())
    finally:
        client.close()


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("kafka", "redis"):
        print(__doc__, file=sys.stderr)
        return 2
    check = kafka_ready if argv[1] == "kafka" else redis_ready
    try:
        return 0 if check(argv[2]) else 1
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
        print(f"{argv[1]} not ready: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
