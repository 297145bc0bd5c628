"""The agents count what they consume, dead-letter and decide, on a registry of their own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from tests.agents.conftest import Sent, capture_sends
from withdrawguard.adapters.metrics import PrometheusMetrics
from withdrawguard.contract import wire
from withdrawguard.engine.decide import Engine
from withdrawguard.engine.policy import load_policy
from withdrawguard.settings import Settings
from withdrawguard.sim import scenarios as s
from withdrawguard.worker.app import Detector, create_app

NOW = datetime.now(UTC).replace(microsecond=0)
TEST_TOPIC = "<internal>"  # the topic name Faust's test context gives its messages


@pytest.fixture
def counted(tmp_path: Any) -> tuple[Detector, Sent, CollectorRegistry]:
    registry = CollectorRegistry()
    settings = Settings(store="memory", data_dir=tmp_path, app_id="wg-agents-metrics")
    detector = create_app(settings, Engine(load_policy()), metrics=PrometheusMetrics(registry))
    return detector, capture_sends(detector), registry


async def test_ingest_counts_a_consumed_event_by_topic_and_type(counted: Any) -> None:
    detector, sent, registry = counted
    detector.pipeline.input_types[TEST_TOPIC] = "login"
    _, body = s.login("cust-1", "e1", NOW)
    async with detector.app.agents["ingest"].test_context() as agent:
        await agent.put(orjson.dumps(body), key=b"cust-1")
    labels = {"topic": TEST_TOPIC, "type": "login"}
    assert registry.get_sample_value("withdrawguard_events_consumed_total", labels) == 1.0
    assert len(sent.by_topic["customer_events"]) == 1


async def test_a_dead_letter_is_counted_by_its_error_kind(counted: Any) -> None:
    detector, sent, registry = counted
    detector.pipeline.input_types[TEST_TOPIC] = "login"
    async with detector.app.agents["ingest"].test_context() as agent:
        await agent.put(b'{"type": "login", "event_id": 7}', key=b"k")
        await agent.put(b"[]", key=b"k")
    value = registry.get_sample_value
    assert value("withdrawguard_dead_letters_total", {"kind": "must be a string"}) == 1.0
    kind = {"kind": "payload must be a JSON object"}
    assert value("withdrawguard_dead_letters_total", kind) == 1.0
    assert len(sent.json("dead_letters")) == 2
    consumed = {"topic": TEST_TOPIC, "type": "login"}
    assert value("withdrawguard_events_consumed_total", consumed) is None


async def test_detect_counts_the_verdict_hold_alert_and_latency_of_the_sbi_chain(
    counted: Any,
) -> None:
    detector, sent, registry = counted
    dest = {"bank_code": "0009", "branch_code": "222", "account_number": "7654321"}
    chain = s.sbi_chain("cust-2", NOW - timedelta(hours=1), dest)
    async with detector.app.agents["detect"].test_context() as agent:
        for topic, body in chain:
            event_type = {"logins": "login", "account-changes": "account_change"}.get(
                topic, "withdrawal"
            )
            await agent.put(wire.forward(event_type, orjson.dumps(body)), key=b"cust-2")
    value = registry.get_sample_value
    [attack] = [v for v in sent.json("decisions") if v["withdrawal_id"] == "cust-2-wd-attack"]
    assert attack["decision"] == "hold"
    assert value("withdrawguard_verdicts_total", {"decision": "hold"}) == 1.0
    assert value("withdrawguard_verdicts_total", {"decision": "allow"}) == 1.0  # the old one
    for reason in attack["reasons"]:
        assert value("withdrawguard_holds_total", {"reason": reason["code"]}) == 1.0
    [alert] = sent.json("alerts")
    assert value("withdrawguard_alerts_total", {"severity": alert["severity"]}) == 1.0
    arrival = "withdrawguard_decision_latency_from_arrival_seconds"
    assert value(f"{arrival}_count") == 2.0
    assert value(f"{arrival}_bucket", {"le": "10.0"}) == 2.0  # the test context is fast
    occurred = "withdrawguard_decision_latency_from_occurred_seconds_count"
    assert value(occurred) == 2.0
