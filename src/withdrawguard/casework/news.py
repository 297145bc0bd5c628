"""The detector's outputs, as written to the topics, read as case news (`Trigger`).

- A hold is introduced by its verdict (`withdrawal-decisions`, decision `hold`): the
  verdict carries the severity the inbox routing needs, the same as its alert's, so a
  case lands in the same inbox whichever of the two topics is read first. (A
  `withdrawal-holds` record carries no severity; routing by it would depend on order.)
- A hold's later fate (released, confirmed fraud) comes from `withdrawal-holds`.
- Alerts come from `fraud-alerts`: a critical one opens a case, others join one.

Records that are no case news give None (an allow verdict, a hold still `held`, junk)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from withdrawguard.cases.events import FATES, SEVERITIES, Fate, Trigger


def verdict_trigger(value: dict[str, Any]) -> tuple[str, Trigger] | None:
    """(customer id, news of a new hold) of a `withdrawal_decision` record that holds."""
    if value.get("decision") != "hold":
        return None
    severity = next((s for s in SEVERITIES if s == value.get("severity")), None)
    customer, wid = value.get("customer_id"), value.get("withdrawal_id")
    amount, currency = _amount(value.get("amount")), value.get("currency")
    if not (customer and wid and severity and amount is not None and currency):
        return None
    return str(customer), Trigger(
        kind="hold",
        ref_id=f"hold-{wid}",  # the contract's hold id
        severity=severity,
        reason_codes=_codes(value),
        withdrawal_id=str(wid),
        amount=amount,
        currency=str(currency),
        hold_status="held",
    )


def hold_trigger(value: dict[str, Any]) -> tuple[str, Trigger] | None:
    """(customer id, news of a hold's fate) of a `withdrawal_hold` record released or
    confirmed as fraud; None while it is still held (its verdict said so)."""
    status = next((f for f in FATES if f == value.get("status") and f != "held"), None)
    customer, hold_id = value.get("customer_id"), value.get("hold_id")
    amount, currency = _amount(value.get("amount")), value.get("currency")
    if not (customer and hold_id and status and amount is not None and currency):
        return None
    fate: Fate = status
    return str(customer), Trigger(
        kind="hold",
        ref_id=str(hold_id),
        severity="none",  # news of a fate raises nothing
        reason_codes=_codes(value),
        withdrawal_id=value.get("withdrawal_id"),
        amount=amount,
        currency=str(currency),
        hold_status=fate,
    )


def alert_trigger(value: dict[str, Any]) -> tuple[str, Trigger] | None:
    """(customer id, news) of a `fraud_alert` record."""
    severity = next((s for s in SEVERITIES if s == value.get("severity")), None)
    customer, alert_id = value.get("customer_id"), value.get("alert_id")
    if not (customer and alert_id and severity):
        return None
    return str(customer), Trigger(
        kind="alert",
        ref_id=str(alert_id),
        severity=severity,
        reason_codes=tuple(str(c) for c in value.get("rule_codes") or ()),
        withdrawal_id=value.get("withdrawal_id"),
    )


def _codes(value: dict[str, Any]) -> tuple[str, ...]:
    reasons = value.get("reasons") or ()
    return tuple(str(r["code"]) for r in reasons if isinstance(r, dict) and "code" in r)


def _amount(text: Any) -> Decimal | None:
    try:
        amount = Decimal(str(text))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None
