"""The in-place path on the real broker: an input the producer keyed by customer id with
Kafka's default partitioner (kafka-python's murmur2 here) is decided without a record on
customer-events; one with another key or on another partition goes through it; a
customer whose history took one path and whose withdrawal took the other is judged on
all of it (both paths read and write the same store partition)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.partitioner.default import murmur2

from tests.integration.harness import (
    OUTPUTS,
    Bus,
    Worker,
    _free_port,
    collecting_bus,
    isolated_settings,
    unique,
)
from withdrawguard.adapters.kafka_security import kafka_python_options
from withdrawguard.contract import topics as t
from withdrawguard.sim import scenarios as s

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
INPUT_TAGS = tuple(f"{x}\0".encode() for x in t.INPUT_EVENT_TYPES.values())


def home(bus: Bus, cid: str) -> int:
    return int(murmur2(cid.encode()) & 0x7FFFFFFF) % bus.settings.partitions


def send(bus: Bus, topic: str, body: dict[str, Any], key: bytes, partition: int | None) -> None:
    bus.producer.send(bus.name(topic), key=key, value=orjson.dumps(body), partition=partition)


def rekeyed(bus: Bus) -> list[bytes]:
    """Keys of the re-keyed inputs on customer-events (notices left out), all partitions."""
    name = bus.name(t.CUSTOMER_EVENTS)
    consumer = KafkaConsumer(
        bootstrap_servers=bus.settings.bootstrap_servers,
        **kafka_python_options(bus.settings),
    )
    try:
        parts = [TopicPartition(name, p) for p in range(bus.settings.partitions)]
        consumer.assign(parts)
        consumer.seek_to_beginning()
        ends, keys = consumer.end_offsets(parts), []
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            for records in consumer.poll(timeout_ms=500).values():
                keys += [r.key for r in records if r.value.startswith(INPUT_TAGS)]
        return keys
    finally:
        consumer.close()


def own_destination() -> dict[str, str]:
    return {"bank_code": "0005", "account_number": str(random.randint(10**6, 10**7 - 1))}


def test_well_keyed_inputs_skip_customer_events_and_others_take_it(bus: Bus) -> None:
    home_cid, wrong_key, wrong_part = unique("inplace"), unique("wrongkey"), unique("wrongpart")
    for cid, key, partition in (
        (home_cid, home_cid.encode(), None),  # the producer's own murmur2 choice
        (wrong_key, b"account-" + wrong_key.encode(), home(bus, wrong_key)),
        (wrong_part, wrong_part.encode(), (home(bus, wrong_part) + 1) % bus.settings.partitions),
    ):
        topic, body = s.withdrawal(
            cid, f"{cid}-e", NOW, f"{cid}-wd", "500", destination=own_destination()
        )
        send(bus, topic, body, key, partition)
    bus.producer.flush()
    for cid in (home_cid, wrong_key, wrong_part):
        [verdict] = bus.wait_for(
            f"the verdict on {cid}",
            lambda c=cid: bus.values("withdrawal-decisions", withdrawal_id=f"{c}-wd"),
        )
        assert verdict["decision"] == "allow"
    bus.wait_idle()
    keys = rekeyed(bus)
    assert home_cid.encode() not in keys
    assert keys.count(wrong_key.encode()) == 1
    assert keys.count(wrong_part.encode()) == 1


@pytest.mark.parametrize("attack_in_place", [True, False], ids=["attack-in-place", "attack-hop"])
def test_a_chain_split_between_the_two_paths_is_held_on_all_of_it(
    bus: Bus, attack_in_place: bool
) -> None:
    cid = unique("split")
    ip = f"198.{random.randint(18, 19)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
    dest = own_destination() | {"bank_code": "0009", "branch_code": "222"}
    chain = s.sbi_chain(cid, NOW - timedelta(hours=1), dest, attacker_ip=ip)
    away = (home(bus, cid) + 1) % bus.settings.partitions
    for topic, body in chain[:-1]:
        send(bus, topic, body, cid.encode(), away if attack_in_place else None)
    bus.producer.flush()
    bus.wait_idle()  # the history is in the customer's state before the attack comes
    topic, body = chain[-1]
    send(bus, topic, body, cid.encode(), None if attack_in_place else away)
    bus.producer.flush()
    wid = f"{cid}-wd-attack"
    [verdict] = bus.wait_for(
        "the verdict", lambda: bus.values("withdrawal-decisions", withdrawal_id=wid)
    )
    assert verdict["decision"] == "hold"
    assert {r["code"] for r in verdict["reasons"]} == {
        "DEST_CHANGED_RECENTLY",
        "FAILED_LOGIN_BURST",
        "NEW_DEVICE",
        "CREDENTIAL_CHANGE_CHAIN",
        "DRAIN",
    }
    bus.wait_idle()
    hopped = rekeyed(bus).count(cid.encode())
    assert hopped == (len(chain) - 1 if attack_in_place else 1)


def test_every_worker_of_a_two_worker_group_detects_in_place(
    services: tuple[str, str], tmp_path: Path
) -> None:
    """Not only the group's leader: aiokafka keeps partition counts in its coordinator's
    metadata snapshot on the leader alone, which made the followers take the hop."""
    settings = isolated_settings(services, "inplace2", tmp_path / "w0")
    workers = [
        Worker(
            replace(settings, data_dir=tmp_path / f"w{n}", web_port=_free_port()),
            tmp_path / f"w{n}.log",
        )
        for n in range(2)
    ]
    try:
        for w in workers:
            w.start()  # the second is ready once the group has rebalanced onto both
        admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
        try:
            group = admin.describe_groups([settings.app_id])[settings.app_id]
        finally:
            admin.close()
        assert len(group["members"]) == 2
        with collecting_bus(settings, OUTPUTS) as bus:
            cids: list[str] = []
            while len({home(bus, c) for c in cids}) < bus.settings.partitions or len(cids) < 24:
                cids.append(unique("both"))
            for cid in cids:
                topic, body = s.withdrawal(
                    cid, f"{cid}-e", NOW, f"{cid}-wd", "500", destination=own_destination()
                )
                send(bus, topic, body, cid.encode(), None)
            bus.producer.flush()
            bus.wait_for(
                "every verdict",
                lambda: len(bus.values("withdrawal-decisions")) >= len(cids),
                timeout=60,
            )
            bus.wait_idle()
            assert rekeyed(bus) == []
    finally:
        for w in workers:
            w.stop()
