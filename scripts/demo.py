"""`make demo`: play the 2020 attack, a mule account and honest customers through the
running worker, and show what it decided and how fast.

Reads the same WG_ settings as the worker. Every run uses fresh customer ids, a fresh
attacker address and a fresh mule account, so runs do not affect each other.
"""

from __future__ import annotations

import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from kafka import KafkaConsumer, KafkaProducer

from withdrawguard.adapters.kafka_security import kafka_python_options
from withdrawguard.settings import Settings
from withdrawguard.sim import scenarios as s
from withdrawguard.streaming.topics import (
    DEAD_LETTERS,
    FRAUD_ALERTS,
    WITHDRAWAL_DECISIONS,
    TopicNames,
)

TIMEOUT = 60.0


def main() -> int:
    settings = Settings.from_env()
    names = TopicNames(settings)
    run = uuid.uuid4().hex[:6]
    now = datetime.now(UTC).replace(microsecond=0)
    ip = f"198.18.{random.randint(0, 255)}.{random.randint(1, 254)}"
    mule = {
        "bank_code": "0009",
        "branch_code": "222",
        "account_number": str(random.randint(10**6, 10**7 - 1)),
    }

    victims = [f"victim-{run}-{i}" for i in (1, 2)]
    honest = [f"honest-{run}-{i}" for i in (1, 2, 3)]
    history: list[s.Message] = []
    attacks: list[s.Message] = []
    for cid in victims:
        chain = s.sbi_chain(cid, now - timedelta(minutes=30), mule, attacker_ip=ip)
        history += chain[:-1]
        attacks += chain[-1:]
    for cid in honest:
        msgs = s.honest_withdrawal(cid, now - timedelta(minutes=10))
        history += msgs[:-1]
        attacks += msgs[-1:]

    security = kafka_python_options(settings)  # WG_KAFKA_SECURITY_PROTOCOL and friends
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, linger_ms=1, **security)
    consumer = KafkaConsumer(
        names.name(WITHDRAWAL_DECISIONS),
        names.name(FRAUD_ALERTS),
        names.name(DEAD_LETTERS),
        bootstrap_servers=settings.bootstrap_servers,
        auto_offset_reset="latest",
        group_id=None,
        consumer_timeout_ms=200,
        **security,
    )
    while not consumer.assignment():
        consumer.poll(timeout_ms=200)
    consumer.seek_to_end()
    for tp in consumer.assignment():
        consumer.position(tp)  # resolve "end" now, before anything is sent

    def send(msgs: list[s.Message]) -> None:
        for topic, body in msgs:
            producer.send(
                names.name(topic), key=body["customer_id"].encode(), value=orjson.dumps(body)
            )
        producer.flush()

    print(
        f"demo run {run}: {len(victims)} customers attacked as in 2020 (one mule account),"
        f" {len(honest)} honest customers"
    )
    print(f"  sending {len(history)} history events (logins, changes, past withdrawals)...")
    send(history)
    producer.send(
        names.name("withdrawals"),
        key=f"bad-{run}".encode(),
        value=b'{"type": "withdrawal", "amount": -5}',
    )
    time.sleep(3)  # let the history land before the withdrawals that matter
    print(f"  sending {len(attacks)} withdrawals...")
    sent_at = {body["withdrawal_id"]: time.monotonic() for _, body in attacks}
    send(attacks)

    latest: dict[str, dict[str, Any]] = {}
    first_seen: dict[str, float] = {}
    alerts: dict[str, list[dict[str, Any]]] = {}
    dead: list[dict[str, Any]] = []
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and (len(latest) < len(sent_at) or not dead):
        for msg in consumer:
            value = orjson.loads(msg.value)
            if msg.topic == names.name(DEAD_LETTERS):
                if msg.key == f"bad-{run}".encode():
                    dead.append(value)
            elif msg.topic == names.name(FRAUD_ALERTS):
                alerts.setdefault(value.get("withdrawal_id") or "", []).append(value)
            elif value["withdrawal_id"] in sent_at:
                wid = value["withdrawal_id"]
                latest[wid] = value
                first_seen.setdefault(wid, time.monotonic())
    time.sleep(1.5)  # late evidence may still add reasons
    for msg in consumer:
        value = orjson.loads(msg.value)
        if msg.topic == names.name(WITHDRAWAL_DECISIONS) and value["withdrawal_id"] in latest:
            latest[value["withdrawal_id"]] = value

    print()
    print(f"{'customer':<22} {'amount':>12}  {'verdict':<7} {'ms':>6}  reasons")
    for _, body in attacks:
        wid = body["withdrawal_id"]
        v = latest.get(wid)
        if v is None:
            print(f"{body['customer_id']:<22} {body['amount']:>12}  NO VERDICT within {TIMEOUT}s")
            continue
        ms = (first_seen[wid] - sent_at[wid]) * 1000
        reasons = ", ".join(r["code"] for r in v["reasons"]) or "-"
        print(
            f"{body['customer_id']:<22} {body['amount']:>12}  {v['decision']:<7} {ms:>6.0f}"
            f"  {reasons}"
        )
    for wid, items in alerts.items():
        if wid in latest:
            top = items[-1]
            print(f"\nALERT [{top['severity']}] {top['summary']}")
    if dead:
        print(f"\ndead letter: {dead[0]['error']}")
    missing = [wid for wid in sent_at if wid not in latest]
    held_attacks = all(latest.get(f"{c}-wd-attack", {}).get("decision") == "hold" for c in victims)
    honest_ok = all(latest.get(f"{c}-wd-today", {}).get("decision") == "allow" for c in honest)
    port = settings.web_port
    print(f"""
Where to look next:
  worker health      http://127.0.0.1:{port}/health   readiness http://127.0.0.1:{port}/ready
  verdicts           topic {names.name(WITHDRAWAL_DECISIONS)}
  holds, alerts      topics withdrawal-holds, fraud-alerts; bad input: dead-letters
  metrics            http://127.0.0.1:{port}/metrics   (dashboards: README)
  ops console        http://127.0.0.1:{port}/console   (users: README, "Ops console")
  worker log         .local/logs/worker.log
  the contract       docs/contract.md     the policy   docs/policy.md
  stop everything    make down""")
    if missing or not held_attacks or not honest_ok:
        print(
            "\ndemo FAILED: "
            + ("missing verdicts " + ", ".join(missing) if missing else "unexpected verdicts"),
            file=sys.stderr,
        )
        return 1
    print("\ndemo OK: every attack held, every honest withdrawal allowed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
