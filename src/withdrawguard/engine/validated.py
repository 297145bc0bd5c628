"""Typed events from payloads that `decode_input` has already accepted.

The ingest agent validates every input at the edge and forwards the payload unchanged on
the internal `customer-events` topic; the detector then only has to rebuild the event.
`revive(obj, event_type)` does that without checking again, and gives exactly what
`decode_object(obj, event_type)` gives for the same accepted payload (unit tests compare
the two over generated payloads): the same normalizations (UTC times, canonical IP text,
Decimal amounts), none of the checks. A payload that was never validated can make it
raise anything; the agent's guard then dead-letters it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from withdrawguard.engine.decode import decode_object
from withdrawguard.engine.events import (
    AccountChange,
    CaseDecision,
    Destination,
    InputEvent,
    Login,
    Trade,
    Withdrawal,
)
from withdrawguard.engine.fields import normalize_ip


def revive(obj: Mapping[str, Any], event_type: str) -> InputEvent:
    """The event of an accepted payload of `event_type` (see the module docs)."""
    make = _REVIVERS.get(event_type)
    if make is None:
        return decode_object(obj, event_type)  # names the unknown type as the decoder does
    return make(obj)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("z", "Z").replace("t", "T")).astimezone(UTC)


def _ip(value: str | None) -> str | None:
    return None if value is None else normalize_ip(value)


def _amount(value: Any) -> Decimal | None:
    if value is None:
        return None
    return Decimal(repr(value) if isinstance(value, float) else str(value))


def _destination(d: Mapping[str, Any] | None) -> Destination | None:
    if d is None:
        return None
    return Destination(
        d["bank_code"], d["account_number"], d.get("branch_code"), d.get("holder_name")
    )


def _login(o: Mapping[str, Any]) -> Login:
    ip = _ip(o["ip"])
    assert ip is not None
    return Login(
        o["event_id"],
        o["customer_id"],
        _time(o["occurred_at"]),
        o["success"],
        ip,
        device_id=o.get("device_id"),
        user_agent=o.get("user_agent"),
        country=o.get("country"),
        auth_method=o.get("auth_method"),
    )


def _account_change(o: Mapping[str, Any]) -> AccountChange:
    return AccountChange(
        o["event_id"],
        o["customer_id"],
        _time(o["occurred_at"]),
        o["change_type"],
        o["channel"],
        ip=_ip(o.get("ip")),
        device_id=o.get("device_id"),
        verified=bool(o.get("verified")),
        destination=_destination(o.get("destination")),
    )


def _withdrawal(o: Mapping[str, Any]) -> Withdrawal:
    amount, destination = _amount(o["amount"]), _destination(o["destination"])
    assert amount is not None and destination is not None
    return Withdrawal(
        o["event_id"],
        o["customer_id"],
        _time(o["occurred_at"]),
        o["withdrawal_id"],
        amount,
        o["currency"],
        destination,
        channel=o.get("channel"),
        ip=_ip(o.get("ip")),
        device_id=o.get("device_id"),
        available_balance=_amount(o.get("available_balance")),
    )


def _case_decision(o: Mapping[str, Any]) -> CaseDecision:
    return CaseDecision(
        o["decision_id"],
        o["customer_id"],
        _time(o["occurred_at"]),
        o["action"],
        o["actor"],
        withdrawal_id=o.get("withdrawal_id"),
        destination=_destination(o.get("destination")),
        note=o.get("note"),
        suppression_id=o.get("suppression_id"),
        case_id=o.get("case_id"),
        reason_codes=tuple(o.get("reason_codes") or ()),
        until=None if o.get("until") is None else _time(o["until"]),
    )


def _trade(o: Mapping[str, Any]) -> Trade:
    quantity, price, proceeds = _amount(o["quantity"]), _amount(o["price"]), _amount(o["proceeds"])
    assert quantity is not None and price is not None and proceeds is not None
    return Trade(
        o["event_id"],
        o["customer_id"],
        _time(o["occurred_at"]),
        o["side"],
        o["instrument"],
        quantity,
        price,
        proceeds,
        o["currency"],
        holdings_value_after=_amount(o.get("holdings_value_after")),
        channel=o.get("channel"),
        ip=_ip(o.get("ip")),
        device_id=o.get("device_id"),
    )


_REVIVERS: dict[str, Callable[[Mapping[str, Any]], InputEvent]] = {
    "login": _login,
    "account_change": _account_change,
    "withdrawal": _withdrawal,
    "case_decision": _case_decision,
    "trade": _trade,
}
