"""The agents decode, dead-letter, and hand events to the engine; no broker involved."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from withdrawguard.contract import wire
from withdrawguard.sim import scenarios as s

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TEST_TOPIC = "<internal>"  # the topic name Faust's test context gives its messages


def as_logins_topic(app: Any) -> None:
    app.pipeline.input_types[TEST_TOPIC] = "login"


async def test_ingest_forwards_a_valid_login_keyed_by_customer(detector: Any) -> None:
    app, sent = detector
    _, body = s.login("cust-1", "e1", NOW)
    as_logins_topic(app)
    async with app.app.agents["ingest"].test_context() as agent:
        await agent.put(orjson.dumps(body), key=b"whatever-the-producer-used")
    [(key, value)] = sent.by_topic["customer_events"]
    assert key == b"cust-1"
    assert value == wire.forward("login", orjson.dumps(body))


async def test_ingest_dead_letters_a_bad_message_and_goes_on(detector: Any) -> None:
    app, sent = detector
    _, good = s.login("cust-2", "e2", NOW)
    as_logins_topic(app)
    async with app.app.agents["ingest"].test_context() as agent:
        await agent.put(b'{"type": "login", "event_id": 7}', key=b"k")
        await agent.put(orjson.dumps(good), key=b"cust-2")
    [letter] = sent.json("dead_letters")
    assert letter["error"].startswith("event_id: must be a string")
    assert letter["error_field"] == "event_id"
    assert [k for k, _ in sent.by_topic["customer_events"]] == [b"cust-2"]


async def test_detector_writes_state_and_sends_the_verdict(detector: Any) -> None:
    app, sent = detector
    dest = {"bank_code": "0005", "account_number": "1234567"}
    _, body = s.withdrawal("cust-3", "e3", NOW, "wd-3", "500", destination=dest)
    async with app.app.agents["detect"].test_context() as agent:
        await agent.put(wire.forward("withdrawal", orjson.dumps(body)), key=b"cust-3")
    [verdict] = sent.json("decisions")
    assert verdict["withdrawal_id"] == "wd-3"
    assert verdict["decision"] == "allow"
    assert app.pipeline.customers[b"cust-3"] is not None
    [record] = sent.json("destination_observations")
    [obs] = record["observations"]
    assert obs["kind"] == "used"


async def test_ingest_dead_letters_a_message_from_an_unexpected_topic(detector: Any) -> None:
    app, sent = detector
    async with app.app.agents["ingest"].test_context() as agent:
        await agent.put(b"{}", key=b"k")
    [letter] = sent.json("dead_letters")
    assert "no event type is expected on topic" in letter["error"]


async def test_detector_dead_letters_an_event_whose_processing_raises(detector: Any) -> None:
    app, sent = detector
    async with app.app.agents["detect"].test_context() as agent:
        await agent.put(b"withdrawal\0{not json", key=b"cust-4")
        _, ok = s.login("cust-4", "e4", NOW)
        await agent.put(wire.forward("login", orjson.dumps(ok)), key=b"cust-4")
    [letter] = sent.json("dead_letters")
    assert "not valid UTF-8 JSON" in letter["error"]
    assert app.pipeline.customers[b"cust-4"] is not None  # the next event was processed
