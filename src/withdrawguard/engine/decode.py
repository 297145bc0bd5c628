"""Decode and validate input payloads into typed events.

Every problem raises `InvalidEvent`, whose message names the field and what is wrong
with it. Unknown extra fields are ignored. The JSON Schemas in `docs/schemas/` say the
same thing and are tested against this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, cast

import orjson

from withdrawguard.engine.events import (
    ANSWERS,
    CASE_ACTIONS,
    CHANGE_TYPES,
    CHANNELS,
    CONTACTS,
    SIDES,
    AccountChange,
    CaseAction,
    CaseDecision,
    ChangeType,
    Channel,
    CustomerResponse,
    InputEvent,
    Login,
    Trade,
    Withdrawal,
)
from withdrawguard.engine.fields import (
    COUNTRY,
    CURRENCY,
    MAX_TEXT,
    InvalidEvent,
    kind_of,
    read_bool,
    read_choice,
    read_decimal,
    read_destination,
    read_ip,
    read_muted_codes,
    read_pattern,
    read_required,
    read_string,
    read_time,
    read_until,
)
from withdrawguard.engine.rules import RULE_CODES
from withdrawguard.engine.suppressions import LONGEST, UNMUTABLE

__all__ = [
    "InvalidEvent",
    "check_not_ahead",
    "decode_input",
    "decode_object",
    "parse_json",
]


def parse_json(raw: bytes, max_bytes: int) -> dict[str, Any]:
    """Bytes to a JSON object, with the size limit and UTF-8 checked first."""
    if len(raw) > max_bytes:
        raise InvalidEvent("", f"payload is {len(raw)} bytes, over the limit of {max_bytes}")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent("", f"not valid UTF-8 JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise InvalidEvent("", f"payload must be a JSON object, got {kind_of(obj)}")
    return obj


def decode_input(raw: bytes, expected_type: str, max_bytes: int) -> InputEvent:
    """Decode a message from an input topic whose events must be of `expected_type`."""
    return decode_object(parse_json(raw, max_bytes), expected_type)


def decode_object(obj: Mapping[str, Any], expected_type: str) -> InputEvent:
    decoder = _DECODERS.get(expected_type)
    if decoder is None:
        raise InvalidEvent("type", f"unknown event type {expected_type!r}")
    declared = obj.get("type")
    if expected_type == "case_decision" and declared is None:
        declared = "case_decision"  # case decisions may omit `type`
    if declared is None:
        raise InvalidEvent("type", "is required")
    if declared != expected_type:
        raise InvalidEvent(
            "type", f"is {str(declared)[:40]!r} but this topic carries {expected_type!r} events"
        )
    return decoder(obj)


def check_not_ahead(event: InputEvent, now: datetime, limit_seconds: int) -> None:
    """Refuse an event dated further ahead of `now` than the limit.

    Retention is measured back from the newest event time, so one event dated years
    ahead would age a customer's whole history out. The caller owns the clock.
    """
    ahead = (event.occurred_at - now).total_seconds()
    if ahead > limit_seconds:
        raise InvalidEvent(
            "occurred_at",
            f"is {ahead / 3600:.1f} h ahead of the detector's clock "
            f"(at most {limit_seconds / 3600:g} h is accepted)",
        )


def _common(obj: Mapping[str, Any]) -> tuple[str, str, datetime]:
    return (
        read_required(obj, "event_id"),
        read_required(obj, "customer_id"),
        read_time(obj, "occurred_at"),
    )


# ---------------------------------------------------------------- one decoder per type


def _login(obj: Mapping[str, Any]) -> Login:
    event_id, customer_id, at = _common(obj)
    success = read_bool(obj, "success", required=True)
    ip = read_ip(obj, "ip", required=True)
    assert success is not None and ip is not None
    return Login(
        event_id,
        customer_id,
        at,
        success,
        ip,
        device_id=read_string(obj, "device_id", required=False),
        user_agent=read_string(obj, "user_agent", required=False, limit=MAX_TEXT),
        country=read_pattern(
            obj, "country", COUNTRY, "an ISO 3166 alpha-2 code such as 'JP'", required=False
        ),
        auth_method=read_string(obj, "auth_method", required=False, limit=64),
    )


def _account_change(obj: Mapping[str, Any]) -> AccountChange:
    event_id, customer_id, at = _common(obj)
    change_type = read_choice(obj, "change_type", CHANGE_TYPES)
    channel = read_choice(obj, "channel", CHANNELS)
    destination = read_destination(
        obj, "destination", required=change_type == "withdrawal_destination"
    )
    return AccountChange(
        event_id,
        customer_id,
        at,
        cast(ChangeType, change_type),
        cast(Channel, channel),
        ip=read_ip(obj, "ip", required=False),
        device_id=read_string(obj, "device_id", required=False),
        verified=bool(read_bool(obj, "verified", required=False)),
        destination=destination,
    )


def _withdrawal(obj: Mapping[str, Any]) -> Withdrawal:
    event_id, customer_id, at = _common(obj)
    withdrawal_id = read_required(obj, "withdrawal_id")
    amount = read_decimal(obj, "amount", required=True, positive=True)
    currency = read_pattern(
        obj, "currency", CURRENCY, "an ISO 4217 code such as 'JPY'", required=True
    )
    destination = read_destination(obj, "destination", required=True)
    assert amount is not None and currency is not None and destination is not None
    return Withdrawal(
        event_id,
        customer_id,
        at,
        withdrawal_id,
        amount,
        currency,
        destination,
        channel=read_string(obj, "channel", required=False, limit=64),
        ip=read_ip(obj, "ip", required=False),
        device_id=read_string(obj, "device_id", required=False),
        available_balance=read_decimal(obj, "available_balance", required=False, positive=False),
    )


PROCEEDS_TOLERANCE = Decimal("0.05")
"""How far a trade's proceeds may be from quantity x price: fees and taxes, not a typo."""


def _trade(obj: Mapping[str, Any]) -> Trade:
    event_id, customer_id, at = _common(obj)
    side = read_choice(obj, "side", SIDES)
    instrument = read_required(obj, "instrument")
    quantity = read_decimal(obj, "quantity", required=True, positive=True)
    price = read_decimal(obj, "price", required=True, positive=True)
    proceeds = read_decimal(obj, "proceeds", required=True, positive=True)
    currency = read_pattern(
        obj, "currency", CURRENCY, "an ISO 4217 code such as 'JPY'", required=True
    )
    assert quantity is not None and price is not None and proceeds is not None
    assert currency is not None
    gross = quantity * price
    if abs(proceeds - gross) > gross * PROCEEDS_TOLERANCE:
        raise InvalidEvent(
            "proceeds",
            f"is {proceeds}, not within {PROCEEDS_TOLERANCE:.0%} of quantity x price ({gross})",
        )
    channel = read_choice(obj, "channel", CHANNELS) if obj.get("channel") is not None else None
    return Trade(
        event_id,
        customer_id,
        at,
        cast(Literal["buy", "sell"], side),
        instrument,
        quantity,
        price,
        proceeds,
        currency,
        holdings_value_after=read_decimal(
            obj, "holdings_value_after", required=False, positive=False
        ),
        channel=cast(Channel | None, channel),
        ip=read_ip(obj, "ip", required=False),
        device_id=read_string(obj, "device_id", required=False),
    )


def _customer_response(obj: Mapping[str, Any]) -> CustomerResponse:
    """Whether the notice is this customer's, known and unanswered, only the customer's
    state can tell: the engine refuses it then (engine/notices.py), naming `notice_id`."""
    response_id = read_required(obj, "response_id")
    customer_id = read_required(obj, "customer_id")
    at = read_time(obj, "occurred_at")
    notice_id = read_required(obj, "notice_id")
    answer = read_choice(obj, "answer", ANSWERS)
    contact = read_choice(obj, "contact", CONTACTS)
    as_of = None
    if contact == "as_of":
        as_of = read_time(obj, "contact_as_of")
        if as_of > at:
            raise InvalidEvent("contact_as_of", "must not be later than occurred_at")
    elif obj.get("contact_as_of") is not None:
        raise InvalidEvent("contact_as_of", "must be absent when contact is 'current'")
    channel = read_choice(obj, "channel", CHANNELS)
    return CustomerResponse(
        response_id,
        customer_id,
        at,
        notice_id,
        cast(Literal["confirm", "deny"], answer),
        cast(Literal["current", "as_of"], contact),
        as_of,
        cast(Channel, channel),
    )


def _case_decision(obj: Mapping[str, Any]) -> CaseDecision:
    decision_id = read_required(obj, "decision_id")
    customer_id = read_required(obj, "customer_id")
    at = read_time(obj, "occurred_at")
    action = read_choice(obj, "action", CASE_ACTIONS)
    actor = read_required(obj, "actor")
    on_hold = action in ("release", "confirm_fraud")
    withdrawal_id = read_string(obj, "withdrawal_id", required=on_hold)
    destination = read_destination(obj, "destination", required=action == "verify_destination")
    suppress = action == "suppress"
    return CaseDecision(
        decision_id,
        customer_id,
        at,
        cast(CaseAction, action),
        actor,
        withdrawal_id=withdrawal_id,
        destination=destination,
        note=read_string(obj, "note", required=False, limit=MAX_TEXT),
        suppression_id=read_string(obj, "suppression_id", required=suppress),
        case_id=read_string(obj, "case_id", required=suppress),
        reason_codes=read_muted_codes(obj, RULE_CODES, UNMUTABLE, required=suppress),
        until=read_until(obj, at, LONGEST, required=suppress),
    )


_DECODERS: dict[str, Callable[[Mapping[str, Any]], InputEvent]] = {
    "login": _login,
    "account_change": _account_change,
    "withdrawal": _withdrawal,
    "case_decision": _case_decision,
    "trade": _trade,
    "customer_response": _customer_response,
}
