"""The detector's outputs, as written to the topics, read as case news (`Trigger`).

`withdrawal-holds` records carry no severity: a hold is news of severity `high` (a
critical alert on the same withdrawal, on `fraud-alerts`, raises the case to critical
when it joins). Records that are not news for a case give None: a hold without a
customer, an unknown status, an alert that names nobody."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from withdrawguard.cases.events import FATES, SEVERITIES, Fate, Severity, Trigger

HOLD_SEVERITY: Severity = "high"


def hold_trigger(value: dict[str, Any]) -> tuple[str, Trigger] | None:
    """(customer id, news) of a `withdrawal_hold` record."""
    status = next((f for f in FATES if f == value.get("status")), None)
    customer, hold_id = value.get("customer_id"), value.get("hold_id")
    amount, currency = _amount(value.get("amount")), value.get("currency")
    if not (customer and hold_id and status and amount is not None and currency):
        return None
    fate: Fate = status
    return str(customer), Trigger(
        kind="hold",
        ref_id=str(hold_id),
        severity=HOLD_SEVERITY,
        reason_codes=tuple(str(r["code"]) for r in value.get("reasons") or () if "code" in r),
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


def _amount(text: Any) -> Decimal | None:
    try:
        amount = Decimal(str(text))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None
