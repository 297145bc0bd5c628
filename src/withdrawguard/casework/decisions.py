"""What a case's events tell the detector: the `case_decision` records (topic
`case-decisions`, docs/contract.md) that make it re-issue its verdict, as the console's
hold actions do.

- `hold_released` (below the four-eyes threshold) and `release_approved` (the second
  pair of eyes): `release` of the hold's withdrawal;
- `closed` as `confirmed_fraud`: `confirm_fraud` of every hold still held;
- `suppression_added`: `suppress` of its reason codes for the customer from the event's
  time until its `until` (the engine then mutes them, engine/suppressions.py). Its expiry
  sends nothing: the detector stops muting at `until` by event time on its own.

Pure. The decision id derives from the case event and the hold, so a decision sent
twice (the writer, then the projection after a crash between the two) is one decision
to the detector, which de-duplicates by `decision_id`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from withdrawguard.cases import events as ev
from withdrawguard.cases.case import Case, apply
from withdrawguard.cases.events import CaseEvent


def decisions_for(before: Case | None, events: Sequence[CaseEvent]) -> list[dict[str, Any]]:
    """The case decisions `events` (in order, following `before`) call for."""
    out: list[dict[str, Any]] = []
    case = before
    for event in events:
        if case is not None:
            out.extend(_of(case, event))
        case = apply(case, event)
    return out


def _of(case: Case, event: CaseEvent) -> list[dict[str, Any]]:
    if isinstance(event, ev.HoldReleased | ev.ReleaseApproved):
        hold = case.hold(event.hold_id)
        if hold is None or hold.withdrawal_id is None:
            return []
        return [_record(case, event, "release", hold.hold_id, hold.withdrawal_id)]
    if isinstance(event, ev.SuppressionAdded):
        return [_suppress(case, event)]
    if isinstance(event, ev.Closed) and event.outcome == "confirmed_fraud":
        return [
            _record(case, event, "confirm_fraud", h.hold_id, h.withdrawal_id)
            for h in case.holds
            if h.fate == "held" and h.withdrawal_id is not None
        ]
    return []


def _record(
    case: Case, event: CaseEvent, action: str, hold_id: str, withdrawal_id: str
) -> dict[str, Any]:
    note = getattr(event, "note", None) or f"case {case.case_id}: {event.kind}"
    return {
        "type": "case_decision",
        "decision_id": f"{event.event_id}:{hold_id}",
        "customer_id": case.customer_id,
        "occurred_at": event.at.isoformat(),
        "action": action,
        "actor": event.actor,
        "withdrawal_id": withdrawal_id,
        "note": f"{note[:1800]} (case {case.case_id})",
    }


def _suppress(case: Case, event: ev.SuppressionAdded) -> dict[str, Any]:
    return {
        "type": "case_decision",
        "decision_id": f"{event.event_id}:suppress",
        "customer_id": case.customer_id,
        "occurred_at": event.at.isoformat(),
        "action": "suppress",
        "actor": event.actor,
        "suppression_id": event.suppression_id,
        "case_id": case.case_id,
        "reason_codes": list(event.reason_codes),
        "until": event.until.isoformat(),
        "note": event.note,
    }
