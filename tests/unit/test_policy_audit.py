"""Reading the policy-audit trail: each record parsed, a bad one named."""

from __future__ import annotations

import orjson
import pytest

from withdrawguard.policy.audit import AuditEntry, AuditError


def _record(**changes: object) -> bytes:
    doc = {
        "action": "publish",
        "actor": "ada",
        "at": 1_765_000_000_000,
        "note": "adopt",
        "role": "live",
        "version": "6d36727c",
        "previous": None,
    }
    return orjson.dumps(doc | changes)


def test_a_record_reads_as_one_line_with_time_action_role_versions_actor_and_note() -> None:
    entry = AuditEntry.parse(_record())
    assert entry.line() == "2025-12-06 05:46:40Z  publish     live    none -> 6d36727c  ada: adopt"
    assert entry.to_json()["when"] == "2025-12-06 05:46:40Z"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, "no value"),
        (b"{", "not JSON"),
        (b"[]", "not a JSON object"),
        (_record(action="delete"), "unknown action 'delete'"),
        (_record(at="yesterday"), "'at' is not an integer"),
        (orjson.dumps({"action": "publish"}), "no 'actor'"),
        (_record(version=7), "'version' is not a string or null"),
    ],
)
def test_a_record_that_cannot_be_used_is_named(value: bytes | None, problem: str) -> None:
    with pytest.raises(AuditError, match=problem):
        AuditEntry.parse(value)
