"""How the fault suite tells a registry that is merely behind its topics (still failing
closed) from one that answers wrongly; both fail the suite, the report names which."""

from __future__ import annotations

from tests.faults.invariants import compare_registry

HOLD = {"decision": "hold", "hold_status": "held", "reasons": "DEST_CHANGED_RECENTLY"}
LATER = {**HOLD, "reasons": "DEST_CHANGED_RECENTLY,DESTINATION_SHARED"}
ALLOW = {"decision": "allow", "hold_status": "", "reasons": ""}


def test_equal_registries_have_no_gap() -> None:
    gap = compare_registry({"a": HOLD, "b": ALLOW}, {"a": HOLD, "b": ALLOW})
    assert (gap.invented, gap.missing, gap.stale, gap.unsafe) == ([], [], [], [])


def test_an_absent_hash_is_missing_and_reads_as_pending() -> None:
    gap = compare_registry({"a": HOLD}, {"a": HOLD, "b": ALLOW})
    assert gap.missing == ["b"]
    assert gap.unsafe == [] and gap.stale == [] and gap.invented == []


def test_older_reasons_with_the_same_answer_are_stale() -> None:
    gap = compare_registry({"a": HOLD}, {"a": LATER})
    assert gap.stale == ["a"] and gap.unsafe == []


def test_a_different_decision_or_hold_status_is_unsafe() -> None:
    released = {**HOLD, "hold_status": "released", "decision": "allow"}
    gap = compare_registry({"a": ALLOW, "b": HOLD}, {"a": HOLD, "b": released})
    assert gap.unsafe == ["a", "b"] and gap.stale == []


def test_a_hash_no_record_made_is_invented() -> None:
    gap = compare_registry({"a": HOLD, "x": ALLOW}, {"a": HOLD})
    assert gap.invented == ["x"]
