"""The ingest agent detects in place only an input keyed by its customer id that sits on
the partition re-keying would choose, over equal partition counts; anything else takes
the hop through customer-events. Where each partition is, kafka-python's murmur2 (an
implementation other than the one the worker uses) says."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from kafka.partitioner.default import murmur2
from prometheus_client import CollectorRegistry

from tests.agents.conftest import Sent, capture_sends
from tests.agents.test_pipeline import TEST_TOPIC
from withdrawguard.adapters.metrics import PrometheusMetrics
from withdrawguard.contract.topics import INPUT_EVENT_TYPES
from withdrawguard.engine.decide import Engine
from withdrawguard.engine.policy import load_policy
from withdrawguard.settings import Settings
from withdrawguard.sim import scenarios as s
from withdrawguard.streaming.detect.placement import Placement
from withdrawguard.worker.app import Detector, create_app

NOW = datetime.now(UTC).replace(microsecond=0)
CUSTOMER_EVENTS = "wg-customer-events"
PARTITIONS = 6


def home(customer_id: str, partitions: int = PARTITIONS) -> int:
    """The partition Kafka's default (murmur2) partitioner gives the customer id."""
    return int(murmur2(customer_id.encode()) & 0x7FFFFFFF) % partitions


def elsewhere(customer_id: str) -> int:
    return (home(customer_id) + 1) % PARTITIONS


@pytest.fixture
def placed(tmp_path: Any) -> tuple[Detector, Sent, CollectorRegistry]:
    """A detector whose ingest agent reads withdrawals on TEST_TOPIC, as many partitions
    as customer-events."""
    registry = CollectorRegistry()
    settings = Settings(store="memory", data_dir=tmp_path, app_id="wg-agents-in-place")
    detector = create_app(settings, Engine(load_policy()), metrics=PrometheusMetrics(registry))
    sent = capture_sends(detector)
    detector.pipeline.input_types[TEST_TOPIC] = "withdrawal"
    counts = {TEST_TOPIC: PARTITIONS, CUSTOMER_EVENTS: PARTITIONS}
    detector.pipeline.placement = Placement(CUSTOMER_EVENTS, counts.get)
    return detector, sent, registry


def withdrawal(customer_id: str) -> bytes:
    dest = {"bank_code": "0005", "account_number": "1234567"}
    _, body = s.withdrawal(
        customer_id, f"{customer_id}-e", NOW, f"{customer_id}-wd", "500", destination=dest
    )
    return orjson.dumps(body)


async def put(detector: Detector, value: bytes, key: bytes, partition: int, **kw: Any) -> None:
    async with detector.app.agents["ingest"].test_context() as agent:
        await agent.put(value, key=key, partition=partition, **kw)


async def test_a_well_keyed_withdrawal_on_its_home_partition_is_decided_without_the_hop(
    placed: Any,
) -> None:
    detector, sent, _ = placed
    cid = "cust-home"
    await put(detector, withdrawal(cid), cid.encode(), home(cid))
    assert sent.by_topic["customer_events"] == []
    [verdict] = sent.json("decisions")
    assert verdict["withdrawal_id"] == f"{cid}-wd"
    assert detector.pipeline.customers[cid.encode()] is not None


@pytest.mark.parametrize(
    ("key", "partition"),
    [
        (b"cust-away", elsewhere("cust-away")),  # the right key on another partition
        (b"someone-else", home("cust-away")),  # another key on the customer's partition
        (None, home("cust-away")),  # no key
    ],
    ids=["wrong-partition", "wrong-key", "no-key"],
)
async def test_a_message_not_where_the_rekey_would_put_it_takes_the_hop(
    placed: Any, key: bytes | None, partition: int
) -> None:
    detector, sent, _ = placed
    await put(detector, withdrawal("cust-away"), key, partition)  # type: ignore[arg-type]
    assert [k for k, _ in sent.by_topic["customer_events"]] == [b"cust-away"]
    assert sent.json("decisions") == []
    assert detector.pipeline.customers.get(b"cust-away") is None


async def test_an_input_with_other_partition_counts_takes_the_hop_even_on_the_same_number(
    placed: Any,
) -> None:
    detector, sent, _ = placed
    cid = "cust-12"
    counts = {TEST_TOPIC: 2 * PARTITIONS, CUSTOMER_EVENTS: PARTITIONS}
    detector.pipeline.placement = Placement(CUSTOMER_EVENTS, counts.get)
    await put(detector, withdrawal(cid), cid.encode(), home(cid))
    assert [k for k, _ in sent.by_topic["customer_events"]] == [cid.encode()]


async def test_unknown_partition_counts_or_a_partitioner_of_ones_own_take_the_hop(
    placed: Any,
) -> None:
    detector, sent, _ = placed
    detector.pipeline.placement = Placement(CUSTOMER_EVENTS, lambda _topic: None)
    await put(detector, withdrawal("cust-a"), b"cust-a", home("cust-a"))
    detector.pipeline.placement = None
    await put(detector, withdrawal("cust-b"), b"cust-b", home("cust-b"))
    assert [k for k, _ in sent.by_topic["customer_events"]] == [b"cust-a", b"cust-b"]


def test_the_worker_detects_in_place_only_with_fausts_default_partitioner(tmp_path: Any) -> None:
    settings = Settings(store="memory", data_dir=tmp_path, app_id="wg-agents-partitioner")
    default = create_app(settings, Engine(load_policy()))
    assert default.pipeline.placement is not None
    own = create_app(settings, Engine(load_policy()), producer_partitioner=lambda k, a, b: a[0])
    assert own.pipeline.placement is None


async def test_in_place_latency_is_measured_from_the_input_records_timestamp(
    placed: Any,
) -> None:
    detector, _, registry = placed
    cid = "cust-late"
    await put(detector, withdrawal(cid), cid.encode(), home(cid), timestamp=time.time() - 100)
    name = "withdrawguard_decision_latency_from_arrival_seconds"
    assert registry.get_sample_value(f"{name}_count") == 1.0
    assert registry.get_sample_value(f"{name}_sum") >= 100


async def test_a_chain_detected_in_place_gives_what_the_hop_gives(tmp_path: Any) -> None:
    dest = {"bank_code": "0009", "branch_code": "222", "account_number": "7654321"}
    cid = "cust-chain"
    chain = s.sbi_chain(cid, NOW.replace(hour=0), dest)
    results = []
    for name, counts in (("in-place", PARTITIONS), ("hop", 2 * PARTITIONS)):
        settings = Settings(store="memory", data_dir=tmp_path / name, app_id=f"wg-chain-{name}")
        detector = create_app(settings, Engine(load_policy()))
        sent = capture_sends(detector)
        table = {TEST_TOPIC: counts, CUSTOMER_EVENTS: PARTITIONS}
        detector.pipeline.placement = Placement(CUSTOMER_EVENTS, table.get)
        async with detector.app.agents["ingest"].test_context() as agent:
            for topic, body in chain:
                detector.pipeline.input_types[TEST_TOPIC] = INPUT_EVENT_TYPES[topic]
                await agent.put(orjson.dumps(body), key=cid.encode(), partition=home(cid))
        async with detector.app.agents["detect"].test_context() as agent:
            for key, value in list(sent.by_topic["customer_events"]):
                await agent.put(value, key=key)
        results.append((sent, detector.pipeline.customers[cid.encode()]))
    (fast, fast_state), (hop, hop_state) = results
    assert fast.by_topic["customer_events"] == []
    assert len(hop.by_topic["customer_events"]) == len(chain)
    assert [v["decision"] for v in fast.json("decisions")] == ["allow", "hold"]
    for topic in (
        "decisions",
        "holds",
        "alerts",
        "destination_observations",
        "ip_observations",
        "device_observations",
    ):
        assert fast.by_topic[topic] == hop.by_topic[topic], topic
    assert fast_state == hop_state
