"""An analyst's action as a case decision for the `case-decisions` topic (the audit trail).

Pure: the form, the acting user, the customer's state and the time go in; the payload
(or the reason it cannot be sent) comes out. A destination to verify is named by the
account change that set it, so the full account number never reaches the browser.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from withdrawguard.cases.policy import CasePolicy
from withdrawguard.engine.fields import MAX_TEXT
from withdrawguard.engine.state import CustomerState

ACTIONS = {
    "release": "release the hold",
    "confirm_fraud": "confirm fraud",
    "verify_destination": "verify the destination",
}
MAX_NOTE = MAX_TEXT
"""The longest note of a case decision: the contract's, as its decoder checks it (the
console's fields carry it as `maxlength`; checked again on post)."""


class ActionError(ValueError):
    """The form does not make a valid case decision; the message says why."""


def case_decision(
    form: Mapping[str, Any], actor: str, state: CustomerState, now: datetime
) -> dict[str, Any]:
    action = str(form.get("action", ""))
    if action not in ACTIONS:
        raise ActionError("unknown action")
    note = str(form.get("note", "")).strip()
    if not note:
        raise ActionError("a note is required")
    if len(note) > MAX_NOTE:
        raise ActionError(f"the note is longer than {MAX_NOTE} characters")
    body: dict[str, Any] = {
        "type": "case_decision",
        "decision_id": f"console-{uuid.uuid4().hex}",
        "customer_id": state.customer_id,
        "occurred_at": now.isoformat(),
        "action": action,
        "actor": actor,
        "note": note,
    }
    if action == "verify_destination":
        change = state.changes.get(str(form.get("change_event_id", "")))
        if change is None or change.dest is None:
            raise ActionError("no such destination change for this customer")
        body["destination"] = destination_of(change.dest)
    else:
        wid = str(form.get("withdrawal_id", ""))
        if wid not in state.withdrawals:
            raise ActionError("no such withdrawal for this customer")
        body["withdrawal_id"] = wid
    return body


def destination_of(key: str) -> dict[str, str]:
    """`0005/123/1234567` -> the contract's destination object."""
    bank, branch, account = key.split("/", 2)
    dest = {"bank_code": bank, "account_number": account}
    if branch:
        dest["branch_code"] = branch
    return dest


def four_eyes(policy: CasePolicy, amount: str, currency: str) -> bool:
    """Whether releasing a hold of `amount` `currency` takes two people (an amount that
    cannot be read does: the control is not skipped for want of a number)."""
    try:
        value = Decimal(amount)
    except (InvalidOperation, TypeError):
        return True
    return not value.is_finite() or policy.needs_four_eyes(value, currency)


def release_refusal(
    policy: CasePolicy, decision: Mapping[str, Any], state: CustomerState
) -> str | None:
    """Why this console release may not be sent alone, or None: at or above the
    four-eyes threshold it is proposed in the customer's case and approved there by a
    second person (docs/operations.md)."""
    if decision["action"] != "release":
        return None
    w = state.withdrawals[decision["withdrawal_id"]]
    if not four_eyes(policy, w.amount, w.currency):
        return None
    return (
        f"releasing {w.amount} {w.currency} takes four eyes: propose the release in the "
        f"customer's case (/cases/of/{state.customer_id}), where a second person approves it"
    )
