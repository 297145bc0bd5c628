"""The fuzz corpus through the agents (Faust's test context): every hostile message ends
in dead-letters with an error naming the problem, every acceptable one is processed, the
detector never fails on what the decoder let through, and the stream goes on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from tests.agents.test_pipeline import TEST_TOPIC
from tests.hostile import EXAMPLES, VALID, corpus
from withdrawguard.sim import scenarios as s

NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


async def test_every_corpus_message_is_forwarded_or_dead_lettered_and_the_stream_goes_on(
    detector: Any,
) -> None:
    app, sent = detector
    messages = list(corpus(seed=9, size=max(200, EXAMPLES * 2)))
    async with app.app.agents["ingest"].test_context() as agent:
        for event_type, raw in messages:
            app.pipeline.input_types[TEST_TOPIC] = event_type
            await agent.put(raw, key=b"fuzz")
        app.pipeline.input_types[TEST_TOPIC] = "login"
        _, good = s.login("cust-after", "e-after", NOW)
        await agent.put(orjson.dumps(good), key=b"cust-after")
    letters = sent.json("dead_letters")
    forwarded = sent.by_topic["customer_events"]
    assert len(letters) + len(forwarded) == len(messages) + 1
    assert forwarded[-1][0] == b"cust-after", "the good message after the corpus went through"
    for letter in letters:
        assert not letter["error"].startswith("processing failed"), letter["error"]
        assert letter["error"]
        if letter["error_field"]:
            assert letter["error"].startswith(letter["error_field"] + ": ")
    assert len(letters) > len(messages) // 2, "the corpus is mostly hostile"

    # What the decoder let through, the detector takes without failing.
    async with app.app.agents["detect"].test_context() as agent:
        for key, value in forwarded:
            await agent.put(value, key=key)
    later = sent.json("dead_letters")[len(letters) :]
    assert later == [], [x["error"] for x in later]
    assert sent.json("decisions"), "accepted withdrawals got verdicts"


async def test_a_hostile_message_on_every_input_type_names_its_field(detector: Any) -> None:
    app, sent = detector
    async with app.app.agents["ingest"].test_context() as agent:
        for event_type, body in VALID:
            app.pipeline.input_types[TEST_TOPIC] = event_type
            hostile = body | {"customer_id": "\u202e" + "x" * 300}
            await agent.put(orjson.dumps(hostile), key=b"k")
    fields = [x["error_field"] for x in sent.json("dead_letters")]
    assert fields == ["customer_id"] * len(VALID)
