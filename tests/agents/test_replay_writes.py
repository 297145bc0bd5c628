"""State writes of the batch agents: one changelog record per customer per batch, and a
repeated event writes the customer's state again, unchanged, so that a replay after a
crash puts on the changelog what the local store already held."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from withdrawguard.contract import wire
from withdrawguard.sim import scenarios as s

NOW = datetime.now(UTC).replace(microsecond=0)
DEST = {"bank_code": "0005", "account_number": "1234567"}


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes
    timestamp: float


@dataclass
class Event:
    message: Message


def detect_record(offset: int, body: dict[str, Any], kind: str) -> Event:
    cid = body["customer_id"].encode()
    value = wire.forward(kind, orjson.dumps(body))
    return Event(Message("customer-events", 0, offset, cid, value, NOW.timestamp()))


async def test_a_replayed_event_rewrites_the_state_it_finds_unchanged(detector: Any) -> None:
    app, sent = detector
    p = app.pipeline
    _, body = s.withdrawal("cust-r", "cust-r-e", NOW, "cust-r-wd", "500", destination=DEST)
    await p.handle(p._detect, [detect_record(0, body, "withdrawal")])  # noqa: SLF001 - the detect step on a batch, without a stream around it
    await p.handle(p._detect, [detect_record(1, body, "withdrawal")])  # the replay  # noqa: SLF001 - the detect step on a batch, without a stream around it

    (_, first), (_, again) = sent.by_topic["changelog:customers"]
    assert again == first  # the same state, written again: the changelog gets it back
    assert [v["withdrawal_id"] for v in sent.json("decisions")] == ["cust-r-wd"] * 2


async def test_a_batch_writes_each_customer_once_after_all_its_events(detector: Any) -> None:
    app, sent = detector
    p = app.pipeline
    _, login = s.login("cust-b", "b-1", NOW)
    _, wd = s.withdrawal("cust-b", "b-2", NOW, "b-wd", "500", destination=DEST)
    _, other = s.login("cust-c", "c-1", NOW)
    batch = [
        detect_record(0, login, "login"),
        detect_record(1, other, "login"),
        detect_record(2, wd, "withdrawal"),
    ]
    await p.handle(p._detect, batch)  # noqa: SLF001 - the detect step on a batch, without a stream around it

    written = sent.by_topic["changelog:customers"]
    assert [k for k, _ in written] == [b"cust-b", b"cust-c"]
    state = orjson.loads(p.customers[b"cust-b"])
    assert state == orjson.loads(written[0][1])
    assert [v["withdrawal_id"] for v in sent.json("decisions")] == ["b-wd"]


async def test_an_event_that_fails_in_a_batch_is_dead_lettered_and_its_neighbours_kept(
    detector: Any, monkeypatch: Any
) -> None:
    app, sent = detector
    p = app.pipeline
    _, first = s.login("cust-f", "f-1", NOW)
    _, bad = s.login("cust-f", "f-boom", NOW)
    _, wd = s.withdrawal("cust-f", "f-3", NOW, "f-wd", "500", destination=DEST)
    apply = p.engine.apply

    def failing(state: Any, ev: Any) -> Any:
        out = apply(state, ev)  # the state is changed before the failure
        if ev.event_id == "f-boom":
            raise RuntimeError("boom")
        return out

    monkeypatch.setattr(p.engine, "apply", failing)
    batch = [
        detect_record(i, b, k)
        for i, (b, k) in enumerate([(first, "login"), (bad, "login"), (wd, "withdrawal")])
    ]
    await p.handle(p._detect, batch)  # noqa: SLF001 - the detect step on a batch, without a stream around it

    [letter] = sent.json("dead_letters")
    assert letter["offset"] == 1
    assert "RuntimeError: boom" in letter["error"]
    [(_, raw)] = sent.by_topic["changelog:customers"]
    seen = raw.decode()
    assert "f-1" in seen and "f-3" in seen
    assert "f-boom" not in seen  # the failed event left no trace in the state
    assert [v["withdrawal_id"] for v in sent.json("decisions")] == ["f-wd"]
