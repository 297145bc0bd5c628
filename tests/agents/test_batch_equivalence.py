"""The batch path gives exactly what handling each event on its own gives.

One simulated history (honest customers, every attack playbook, late, repeated and
malformed deliveries, customers sharing destinations, source IPs and devices) is replayed through
two fresh pipelines: one handling each event alone (`WG_BATCH_MAX=1`, one batch per
event: the per-event path), one in batches of 500. Each stage is drained in turn (inputs,
then customer-events, IP, destination and device observations, again until nothing is left), so
both see every customer's, IP's, destination's and device's events in the same order; every
verdict, hold, alert and dead letter, and every table's final state, must be the same.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest

from tests.agents.conftest import Sent, capture_sends
from tests.unit.test_engine_suppressions import PHONE_REASONS, new_phone, withdraw
from withdrawguard.contract import topics as t
from withdrawguard.engine.decide import Engine
from withdrawguard.engine.policy import load_policy
from withdrawguard.engine.timeutil import digest
from withdrawguard.settings import Settings
from withdrawguard.sim import scenarios as s
from withdrawguard.sim.answers import response
from withdrawguard.sim.generate import SimConfig, generate
from withdrawguard.streaming.detect.placement import Placement, partition_for
from withdrawguard.worker.app import Detector, create_app

PARTITIONS = 6
OUTPUTS = ("decisions", "holds", "alerts", "notices", "dead_letters")
STAGES: dict[str, Callable[[Any], Any]] = {
    "customer_events": lambda p: p._detect,  # noqa: SLF001 - the detect step on a batch, without a stream around it
    "ip_observations": lambda p: p.stages.source_ips,
    "destination_observations": lambda p: p.stages.destinations,
    "device_observations": lambda p: p.stages.devices,
}


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp: float


@dataclass
class Event:
    message: Message


@pytest.fixture(scope="module")
def history() -> list[tuple[str, bytes, bytes, float]]:
    config = SimConfig(seed=5, customers=120, attacks=12)
    sim = generate(config)
    found = [(d.topic, d.key, d.value, d.at.timestamp()) for d in sim.deliveries]
    last_day = config.start + timedelta(days=config.days - 1)
    return found + suppressed(last_day) + sold_off(last_day) + answered(last_day)


def sold_off(at: datetime) -> list[tuple[str, bytes, bytes, float]]:
    """A customer's holdings sold after a destination change (the early alert), a trade
    delivered twice and one before its trigger arrives, then the proceeds withdrawn."""
    cid = "eq-sell"
    msgs = [
        *s.honest_history(cid, at - timedelta(days=30)),
        s.trade(cid, "eq-sell-t1", at + timedelta(hours=1), "6000000", holdings_after="4000000"),
        s.change(cid, "eq-sell-d", at, "withdrawal_destination", destination=s.MULE_DEST),
        s.trade(cid, "eq-sell-t2", at + timedelta(hours=2), "3000000", holdings_after="1000000"),
        s.trade(cid, "eq-sell-t2", at + timedelta(hours=2), "3000000", holdings_after="1000000"),
        s.withdrawal(
            cid,
            "eq-sell-w",
            at + timedelta(hours=3),
            "eq-sell-wd",
            "8900000",
            destination=s.MULE_DEST,
        ),
    ]
    return [(topic, cid.encode(), orjson.dumps(body), at.timestamp()) for topic, body in msgs]


def suppressed(at: datetime) -> list[tuple[str, bytes, bytes, float]]:
    """A customer's new phone muted by a suppression from a case: a withdrawal while it
    lasts, one after, and one it covers delivered before it (released when it comes)."""
    cid, until = "eq-supp", at + timedelta(hours=6)
    msgs = [
        *new_phone(cid, at - timedelta(hours=1)),
        withdraw(cid, 1, at + timedelta(hours=1)),  # before the suppression is heard of
        s.suppress(cid, "eq-supp-1", at, PHONE_REASONS, until),
        withdraw(cid, 2, at + timedelta(hours=2)),
        withdraw(cid, 3, until + timedelta(minutes=1)),
    ]
    return [(topic, cid.encode(), orjson.dumps(body), at.timestamp()) for topic, body in msgs]


def answered(at: datetime) -> list[tuple[str, bytes, bytes, float]]:
    """A customer denies a destination change after a withdrawal to it was held, in
    the same batch as a response to a notice never sent (refused by the engine, so the
    batch applies the customer's other events again without it) and a repeat."""
    cid = "eq-answer"
    dest = {"bank_code": "0033", "branch_code": "9", "account_number": "4440001"}  # its own
    nid = f"ntc-{digest(cid, 'destination_change', f'{cid}-d')}"
    msgs = [
        *s.honest_history(cid, at - timedelta(days=2)),
        s.change(
            cid,
            f"{cid}-d",
            at - timedelta(hours=3),
            "withdrawal_destination",
            destination=dest,
        ),
        s.withdrawal(
            cid, f"{cid}-w1", at - timedelta(hours=2), f"{cid}-wd1", "1000", destination=dest
        ),
        response(cid, f"{cid}-r0", at - timedelta(hours=1), "ntc-never-sent", "deny"),
        response(cid, f"{cid}-r1", at - timedelta(hours=1), nid, "deny"),
        response(cid, f"{cid}-r1", at - timedelta(hours=1), nid, "deny"),
        s.withdrawal(cid, f"{cid}-w2", at, f"{cid}-wd2", "1000", destination=dest),
    ]
    return [(topic, cid.encode(), orjson.dumps(body), at.timestamp()) for topic, body in msgs]


def pipeline(tmp_path: Any, batch_max: int) -> tuple[Detector, Sent]:
    settings = Settings(
        store="memory", data_dir=tmp_path / str(batch_max), app_id=f"wg-eq-{batch_max}"
    )
    detector = create_app(settings, Engine(load_policy()))
    names = t.TopicNames(settings)
    customer_events = names.name(t.CUSTOMER_EVENTS)
    detector.pipeline.placement = Placement(customer_events, lambda _topic: PARTITIONS)
    detector.pipeline.partitions = lambda _topic: PARTITIONS
    return detector, capture_sends(detector)


async def replay(
    detector: Detector, sent: Sent, history: list[tuple[str, bytes, bytes, float]], size: int
) -> None:
    p = detector.pipeline
    names = t.TopicNames(detector.settings)
    inputs = [
        Event(Message(names.name(topic), partition_for(key, PARTITIONS), i, key, value, ts))
        for i, (topic, key, value, ts) in enumerate(history)
    ]
    await in_batches(p, p._ingest, inputs, size)  # noqa: SLF001 - the ingest step on a batch, without a stream around it
    read: dict[str, int] = defaultdict(int)
    while True:
        fed = False
        for attr, handler in STAGES.items():
            records = sent.by_topic[attr][read[attr] :]
            where = sent.partitions[attr][read[attr] :]
            read[attr] += len(records)
            events = [
                Event(Message(attr, stage_partition(key, at), read[attr] + i, key, value, 0.0))
                for i, ((key, value), at) in enumerate(zip(records, where, strict=True))
            ]
            await in_batches(p, handler(p), events, size)
            fed = fed or bool(events)
        if not fed:
            return


def stage_partition(key: bytes | None, given: int | None) -> int:
    """Where the producer would put the record: its partition, or its key's."""
    if given is not None:
        return given
    assert key is not None
    return partition_for(key, PARTITIONS)


async def in_batches(p: Any, handler: Any, events: list[Event], size: int) -> None:
    for at in range(0, len(events), size):
        await p.handle(handler, events[at : at + size])


def outputs(sent: Sent) -> dict[str, list[Any]]:
    """Each output topic's records, sorted (the order across customers may differ); a
    dead letter without the wall-clock time it was made."""
    found: dict[str, list[Any]] = {}
    for attr in OUTPUTS:
        records = []
        for key, value in sent.by_topic[attr]:
            body = orjson.loads(value)
            body.pop("received_at", None)
            records.append((key, orjson.dumps(body, option=orjson.OPT_SORT_KEYS)))
        found[attr] = sorted(records)
    return found


def tables(detector: Detector) -> dict[str, dict[bytes, bytes]]:
    p = detector.pipeline
    return {
        name: dict(getattr(p, name).data.items())
        for name in ("customers", "destinations", "source_ips", "devices")
    }


async def test_batches_decide_every_withdrawal_as_the_per_event_path_does(
    tmp_path: Any, history: list[tuple[str, bytes, bytes, float]]
) -> None:
    one, sent_one = pipeline(tmp_path, 1)
    many, sent_many = pipeline(tmp_path, 500)
    await replay(one, sent_one, history, 1)
    await replay(many, sent_many, history, 500)

    per_event, batched = outputs(sent_one), outputs(sent_many)
    assert len(per_event["decisions"]) >= 200  # the history's withdrawals, and repeats
    muted = [v for _, v in per_event["decisions"] if b'"suppression_id":"eq-supp-1"' in v]
    assert {orjson.loads(v)["withdrawal_id"] for v in muted} == {"eq-supp-wd1", "eq-supp-wd2"}
    assert any(b'"hold"' in v for _, v in per_event["decisions"])
    sold = [orjson.loads(v) for k, v in per_event["alerts"] if k == b"eq-sell"]
    assert [a["kind"] for a in sold].count("liquidation") == 1  # the sell-off, once
    [sell_verdict] = [orjson.loads(v) for _, v in per_event["decisions"] if b'"eq-sell-wd"' in v]
    assert "LIQUIDATION" in {r["code"] for r in sell_verdict["reasons"]}
    assert per_event["dead_letters"]  # the malformed deliveries
    refused = [orjson.loads(v) for _, v in per_event["dead_letters"] if b"eq-answer-r0" in v]
    assert [d["error_field"] for d in refused] == ["notice_id"]
    denials = [orjson.loads(v) for _, v in per_event["alerts"] if b'"customer_denial"' in v]
    assert [a["customer_id"] for a in denials].count("eq-answer") == 1
    assert len({a["customer_id"] for a in denials}) > 1  # and the simulated victims' denials
    assert any(k == b"eq-answer" for k, _ in per_event["notices"])
    assert sent_one.by_topic["customer_events"]  # notices and re-keyed inputs took the hop
    assert any(b'"DEVICE_SHARED"' in v for _, v in per_event["decisions"])  # a device farm
    for attr in OUTPUTS:
        assert batched[attr] == per_event[attr], attr
    assert tables(many) == tables(one)
    # and the batches wrote less: one changelog record per customer per batch
    assert len(sent_many.by_topic["changelog:customers"]) < len(
        sent_one.by_topic["changelog:customers"]
    )
    assert len(sent_many.by_topic["ip_observations"]) < len(sent_one.by_topic["ip_observations"])
