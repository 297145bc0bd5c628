"""A suppression through the agents (Faust's test context, memory store): ingest forwards a
good `suppress` decision and dead-letters a bad one naming the field; the detect agent
keeps it in the customer's table value and a withdrawal it covers is allowed, naming it,
while one after `until` (by event time) is held again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from tests.unit.test_engine_suppressions import PHONE_REASONS, new_phone, withdraw
from withdrawguard.contract import wire
from withdrawguard.engine.state import decode_state
from withdrawguard.sim import scenarios as s

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
UNTIL = NOW + timedelta(hours=6)
TEST_TOPIC = "<internal>"  # the topic name Faust's test context gives its messages


async def test_ingest_forwards_a_suppression_and_dead_letters_one_muting_fraud(
    detector: Any,
) -> None:
    app, sent = detector
    app.pipeline.input_types[TEST_TOPIC] = "case_decision"
    _, good = s.suppress("cust-1", "supp-1", NOW, PHONE_REASONS, UNTIL)
    _, bad = s.suppress("cust-1", "supp-2", NOW, ("CONFIRMED_FRAUD_DESTINATION",), UNTIL)
    async with app.app.agents["ingest"].test_context() as agent:
        await agent.put(orjson.dumps(bad), key=b"cust-1")
        await agent.put(orjson.dumps(good), key=b"cust-1")
    [letter] = sent.json("dead_letters")
    assert letter["error_field"] == "reason_codes.0"
    assert "CONFIRMED_FRAUD_DESTINATION may never be suppressed" in letter["error"]
    [(key, value)] = sent.by_topic["customer_events"]
    assert key == b"cust-1" and value == wire.forward("case_decision", orjson.dumps(good))


async def test_detect_honours_a_suppression_until_it_ends(detector: Any) -> None:
    app, sent = detector
    messages = [
        *new_phone("cust-1", NOW - timedelta(hours=1)),
        s.suppress("cust-1", "supp-1", NOW, PHONE_REASONS, UNTIL, case_id="case-7"),
        withdraw("cust-1", 1, NOW + timedelta(hours=1)),
        withdraw("cust-1", 2, UNTIL + timedelta(minutes=1)),
    ]
    async with app.app.agents["detect"].test_context() as agent:
        for _topic, body in messages:
            event_type = body.get("type", "case_decision")
            await agent.put(wire.forward(event_type, orjson.dumps(body)), key=b"cust-1")
    verdicts = {v["withdrawal_id"]: v for v in sent.json("decisions")}
    during, after = verdicts["cust-1-wd1"], verdicts["cust-1-wd2"]
    assert during["decision"] == "allow" and during["reasons"] == []
    assert during["suppressed"] == [
        {
            "reason": code,
            "suppression_id": "supp-1",
            "case_id": "case-7",
            "until": UNTIL.isoformat(),
        }
        for code in PHONE_REASONS
    ]
    assert after["decision"] == "hold" and after["suppressed"] == []
    assert set(PHONE_REASONS) <= {r["code"] for r in after["reasons"]}
    [hold] = sent.json("holds")
    assert hold["withdrawal_id"] == "cust-1-wd2"
    state = decode_state(app.pipeline.customers[b"cust-1"])
    assert list(state.suppressions) == ["supp-1"]
