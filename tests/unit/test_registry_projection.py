"""The hold registry's projection: idempotent, order-independent across topics, and read
by payment systems as allow / hold / pending."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest

from tests.unit.registry_fakes import MemoryRegistry
from withdrawguard.registry.apply import apply_record
from withdrawguard.registry.decision import read_decision
from withdrawguard.registry.projection import (
    ALERTS,
    ALERTS_KEPT,
    DECISIONS,
    FIELDS,
    HOLDS,
    BadRecord,
    Position,
    epoch_ms,
)

T0 = "2024-05-01T01:02:31+00:00"
T1 = "2024-05-01T01:31:40+00:00"
REASONS = [{"code": "DRAIN", "detail": "most of the balance", "weight": 25}]
RELEASED = [*REASONS, {"code": "RELEASED", "detail": "hold released by sato", "weight": 0}]


def verdict(decision: str, decided_at: str = T0, reasons: Any = REASONS, wid: str = "W1") -> bytes:
    return orjson.dumps({
        "withdrawal_id": wid, "customer_id": "C1", "decision": decision, "risk_score": 80,
        "severity": "high", "reasons": reasons, "evidence_event_ids": ["e1"],
        "withdrawal_occurred_at": T0, "decided_at": decided_at, "detector_version": "x",
        "amount": "150000", "currency": "JPY", "destination": "bank 0005 acct ****4567",
    })  # fmt: skip


def hold(status: str, updated_at: str = T0, actor: str | None = None, wid: str = "W1") -> bytes:
    return orjson.dumps({
        "hold_id": f"hold-{wid}", "withdrawal_id": wid, "customer_id": "C1", "status": status,
        "reasons": RELEASED if status == "released" else REASONS, "risk_score": 80,
        "created_at": T0, "updated_at": updated_at, "amount": "150000", "currency": "JPY",
        "destination": "bank 0005 acct ****4567", "actor": actor, "note": "call-back done"
        if actor else None,
    })  # fmt: skip


Record = tuple[str, int, int, bytes]
# One withdrawal held, then released: a verdict and a hold record each time.
HELD_THEN_RELEASED: list[Record] = [
    (DECISIONS, 2, 10, verdict("hold")),
    (HOLDS, 4, 7, hold("held")),
    (DECISIONS, 2, 11, verdict("allow", T1, RELEASED)),
    (HOLDS, 4, 8, hold("released", T1, "analyst.sato")),
]


async def project_all(records: list[Record], registry: MemoryRegistry | None = None) -> Any:
    registry = registry or MemoryRegistry()
    for topic, partition, offset, value in records:
        await apply_record(registry, topic, partition, offset, value)
    return registry


async def test_a_held_verdict_fills_every_field_and_the_open_hold_indexes() -> None:
    reg = await project_all(HELD_THEN_RELEASED[:2])
    h = await reg.withdrawal("W1")
    assert set(FIELDS) <= set(h)
    assert h["decision"] == "hold" and h["hold_status"] == "held"
    assert orjson.loads(h["reasons"]) == REASONS
    assert h["src_withdrawal-decisions"] == "2:10" and h["src_withdrawal-holds"] == "4:7"
    assert reg.zsets[reg.keys.open_holds] == {"W1": epoch_ms(T0)}
    assert reg.zsets[reg.keys.open_holds_of("C1")] == {"W1": epoch_ms(T0)}


async def test_a_release_removes_the_hold_from_both_indexes_and_reads_as_allow() -> None:
    reg = await project_all(HELD_THEN_RELEASED)
    h = await reg.withdrawal("W1")
    assert h["hold_status"] == "released" and h["actor"] == "analyst.sato"
    assert h["updated_at"] == T1
    assert reg.keys.open_holds not in reg.zsets
    assert reg.keys.open_holds_of("C1") not in reg.zsets
    assert read_decision("W1", h).decision == "allow"


async def test_replaying_every_record_again_leaves_the_registry_unchanged() -> None:
    reg = await project_all(HELD_THEN_RELEASED)
    before = reg.snapshot()
    for topic, partition, offset, value in HELD_THEN_RELEASED:
        assert not await apply_record(reg, topic, partition, offset, value)
    assert reg.snapshot() == before


async def test_an_older_record_replayed_after_a_newer_one_is_ignored() -> None:
    reg = await project_all(HELD_THEN_RELEASED)
    before = reg.snapshot()
    await project_all([HELD_THEN_RELEASED[1], HELD_THEN_RELEASED[0]], reg)
    assert reg.snapshot() == before
    assert read_decision("W1", await reg.withdrawal("W1")).decision == "allow"


def interleavings(a: list[Record], b: list[Record]) -> list[list[Record]]:
    """Every merge of `a` and `b` that keeps each one's own order."""
    out = []
    for slots in itertools.combinations(range(len(a) + len(b)), len(a)):
        ia, ib, merged = iter(a), iter(b), []
        for i in range(len(a) + len(b)):
            merged.append(next(ia) if i in slots else next(ib))
        out.append(merged)
    return out


async def test_how_the_two_topics_interleave_does_not_change_the_result() -> None:
    decisions = [r for r in HELD_THEN_RELEASED if r[0] == DECISIONS]
    holds = [r for r in HELD_THEN_RELEASED if r[0] == HOLDS]
    results = [(await project_all(m)).snapshot() for m in interleavings(decisions, holds)]
    assert len(results) == 6
    assert all(r == results[0] for r in results)


async def test_the_compacted_topics_latest_records_alone_give_the_same_registry() -> None:
    live = await project_all(HELD_THEN_RELEASED)
    compacted = [HELD_THEN_RELEASED[3], HELD_THEN_RELEASED[2]]  # only the latest per key
    assert (await project_all(compacted)).snapshot() == live.snapshot()


async def test_a_hold_seen_before_its_verdict_already_reads_as_hold() -> None:
    reg = await project_all([HELD_THEN_RELEASED[1]])
    assert read_decision("W1", await reg.withdrawal("W1")).decision == "hold"


async def test_late_evidence_escalating_allow_to_hold_reads_as_hold() -> None:
    reg = await project_all(
        [(DECISIONS, 0, 1, verdict("allow")), (DECISIONS, 0, 2, verdict("hold", T1))]
    )
    assert read_decision("W1", await reg.withdrawal("W1")).decision == "hold"


def test_a_release_followed_by_a_later_hold_verdict_reads_as_hold() -> None:
    fields = {
        "decision": "hold",
        "hold_status": "released",
        "decided_at": T1,
        "hold_updated_at": T0,
    }
    assert read_decision("W1", fields).decision == "hold"


def test_confirmed_fraud_reads_as_hold_even_with_an_allow_verdict() -> None:
    fields = {"decision": "allow", "hold_status": "confirmed_fraud"}
    assert read_decision("W1", fields).decision == "hold"


def test_an_unknown_withdrawal_reads_as_pending() -> None:
    answer = read_decision("W-unknown", {})
    assert answer.decision == "pending" and not answer.may_pay_out


def test_positions_compare_only_within_a_partition() -> None:
    assert Position(1, 5).newer_than("1:4") and not Position(1, 5).newer_than("1:5")
    assert Position(2, 0).newer_than("1:9")  # another partition: cannot tell, apply
    assert Position(0, 0).newer_than(None)


@pytest.mark.parametrize(
    "value",
    [b"not json", b"[]", orjson.dumps({"withdrawal_id": "W1"}), verdict("maybe"),
     verdict("hold", reasons=[{"code": "X"}]), verdict("hold", decided_at="2024-05-01T01:02:31")],
)  # fmt: skip
async def test_a_record_the_registry_cannot_read_raises_bad_record(value: bytes) -> None:
    with pytest.raises(BadRecord):
        await apply_record(MemoryRegistry(), DECISIONS, 0, 0, value)


def alert(i: int) -> bytes:
    at = f"2024-05-01T01:{i // 60 % 60:02d}:{i % 60:02d}+00:00"
    return orjson.dumps({"alert_id": f"a{i:05d}", "customer_id": "C1", "created_at": at})


async def test_alerts_are_kept_newest_first_capped_and_a_replay_changes_nothing() -> None:
    reg = await project_all([(ALERTS, 0, i, alert(i)) for i in range(ALERTS_KEPT + 5)])
    index = reg.zsets[reg.keys.alerts]
    assert len(index) == ALERTS_KEPT and "a00004" not in index and "a00005" in index
    assert reg.keys.alert("a00004") not in reg.strings
    assert reg.strings[reg.keys.alert("a01004")] == alert(ALERTS_KEPT + 4)
    before = reg.snapshot()
    await project_all([(ALERTS, 0, 3, alert(3)), (ALERTS, 0, 1004, alert(1004))], reg)
    assert reg.snapshot() == before
