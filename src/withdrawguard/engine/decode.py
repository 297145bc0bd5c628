"""Decode and validate input payloads into typed events.

Every problem raises `InvalidEvent`, whose message names the field and what is wrong
with it. Unknown extra fields are ignored. The JSON Schemas in `docs/schemas/` say the
same thing and are tested against this module.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, cast

import orjson

from withdrawguard.engine.events import (
    CASE_ACTIONS,
    CHANGE_TYPES,
    CHANNELS,
    AccountChange,
    CaseAction,
    CaseDecision,
    ChangeType,
    Channel,
    Destination,
    InputEvent,
    Login,
    Withdrawal,
)

MAX_ID = 256
MAX_TEXT = 2048
MAX_AMOUNT = Decimal("1e15")
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    r"([Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")
_COUNTRY = re.compile(r"[A-Z]{2}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_CODE = re.compile(r"[0-9A-Za-z][0-9A-Za-z \-]{0,63}")
_KIND_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_KIND_CUT = re.compile(r" \(|:|;|,? got ")
_KIND_NUMBER = re.compile(r"(?<!RFC )(?<![\w-])[0-9]+(?:\.[0-9]+)?(?![\w-])")


class InvalidEvent(ValueError):
    """A payload that cannot be accepted. `field` is the JSON path of the culprit."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field
        self.problem = problem

    @property
    def kind(self) -> str:
        """A short label for metrics: the problem without the values it quotes.

        Bounded: quoted values become `X`, text after `(`, `:`, `;` or `got` is cut
        and numbers become `N`, so "payload is 300000 bytes, over the limit of 262144"
        is "payload is N bytes, over the limit of N"."""
        unquoted = _KIND_QUOTED.sub("X", self.problem)
        words = _KIND_CUT.split(unquoted, maxsplit=1)[0]
        return _KIND_NUMBER.sub("N", words).strip()[:60]


def parse_json(raw: bytes, max_bytes: int) -> dict[str, Any]:
    """Bytes to a JSON object, with the size limit and UTF-8 checked first."""
    if len(raw) > max_bytes:
        raise InvalidEvent("", f"payload is {len(raw)} bytes, over the limit of {max_bytes}")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent("", f"not valid UTF-8 JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise InvalidEvent("", f"payload must be a JSON object, got {_kind(obj)}")
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


# ---------------------------------------------------------------- field readers


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _string(
    obj: Mapping[str, Any],
    name: str,
    *,
    required: bool = True,
    limit: int = MAX_ID,
    prefix: str = "",
) -> str | None:
    value = obj.get(name)
    path = prefix + name
    if value is None:
        if required:
            raise InvalidEvent(path, "is required")
        return None
    if not isinstance(value, str):
        raise InvalidEvent(path, f"must be a string, got {_kind(value)}")
    if not value.strip():
        raise InvalidEvent(path, "must not be empty")
    if len(value) > limit:
        raise InvalidEvent(path, f"is {len(value)} characters, over the limit of {limit}")
    return value


def _req(obj: Mapping[str, Any], name: str, prefix: str = "") -> str:
    value = _string(obj, name, prefix=prefix)
    assert value is not None
    return value


def _bool(obj: Mapping[str, Any], name: str, *, required: bool) -> bool | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise InvalidEvent(name, "is required")
        return None
    if not isinstance(value, bool):
        raise InvalidEvent(name, f"must be true or false, got {_kind(value)}")
    return value


def _time(obj: Mapping[str, Any], name: str) -> datetime:
    value = _req(obj, name)
    if not _RFC3339.fullmatch(value):
        raise InvalidEvent(
            name, f"must be an RFC 3339 timestamp with a UTC offset, got {value[:40]!r}"
        )
    try:
        return datetime.fromisoformat(value.replace("z", "Z").replace("t", "T")).astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidEvent(name, f"is not a valid date and time: {value[:40]!r}") from None


def _ip(obj: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    value = _string(obj, name, required=required, limit=64)
    if value is None:
        return None
    normalized = _normalize_ip(value)
    if normalized is None:
        raise InvalidEvent(name, f"must be an IPv4 or IPv6 address, got {value[:64]!r}")
    return normalized


@functools.lru_cache(maxsize=65_536)
def _normalize_ip(value: str) -> str | None:
    """The canonical text of an address, or None. Cached: sources repeat a lot."""
    if "%" in value:  # an IPv6 zone id names a local interface, not a client
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _pattern(
    obj: Mapping[str, Any],
    name: str,
    pattern: re.Pattern[str],
    what: str,
    *,
    required: bool,
    prefix: str = "",
) -> str | None:
    value = _string(obj, name, required=required, limit=64, prefix=prefix)
    if value is not None and not pattern.fullmatch(value):
        raise InvalidEvent(prefix + name, f"must be {what}, got {value[:64]!r}")
    return value


def _choice(obj: Mapping[str, Any], name: str, allowed: frozenset[str]) -> str:
    value = _req(obj, name)
    if value not in allowed:
        raise InvalidEvent(name, f"must be one of {', '.join(sorted(allowed))}; got {value[:40]!r}")
    return value


def _decimal(
    obj: Mapping[str, Any], name: str, *, required: bool, positive: bool
) -> Decimal | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise InvalidEvent(name, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidEvent(
            name, f"must be a decimal number or a string holding one, got {_kind(value)}"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidEvent(name, "must be a finite number")
    text = repr(value) if isinstance(value, float) else str(value)
    if len(text) > 40:
        raise InvalidEvent(name, "has too many digits (at most 40 characters)")
    if isinstance(value, str) and not _DECIMAL.fullmatch(text):
        raise InvalidEvent(name, f"is not a decimal number such as '1234.50': {text[:40]!r}")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise InvalidEvent(name, f"is not a decimal number: {text[:40]!r}") from None
    if not amount.is_finite():
        raise InvalidEvent(name, "must be a finite number")
    if positive and amount <= 0:
        raise InvalidEvent(name, f"must be positive, got {text}")
    if not positive and amount < 0:
        raise InvalidEvent(name, f"must not be negative, got {text}")
    if amount >= MAX_AMOUNT:
        raise InvalidEvent(name, f"is implausibly large ({text})")
    return amount


def _destination(obj: Mapping[str, Any], name: str, *, required: bool) -> Destination | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise InvalidEvent(name, "is required")
        return None
    if not isinstance(value, dict):
        raise InvalidEvent(name, f"must be an object, got {_kind(value)}")
    prefix = name + "."
    bank = _pattern(
        value, "bank_code", _CODE, "a bank code (letters, digits)", required=True, prefix=prefix
    )
    account = _pattern(
        value,
        "account_number",
        _CODE,
        "an account number (letters, digits)",
        required=True,
        prefix=prefix,
    )
    branch = _pattern(
        value,
        "branch_code",
        _CODE,
        "a branch code (letters, digits)",
        required=False,
        prefix=prefix,
    )
    holder = _string(value, "holder_name", required=False, limit=MAX_ID, prefix=prefix)
    assert bank is not None and account is not None
    return Destination(bank, account, branch, holder)


def _common(obj: Mapping[str, Any]) -> tuple[str, str, datetime]:
    return _req(obj, "event_id"), _req(obj, "customer_id"), _time(obj, "occurred_at")


# ---------------------------------------------------------------- one decoder per type


def _login(obj: Mapping[str, Any]) -> Login:
    event_id, customer_id, at = _common(obj)
    success = _bool(obj, "success", required=True)
    ip = _ip(obj, "ip", required=True)
    assert success is not None and ip is not None
    return Login(
        event_id,
        customer_id,
        at,
        success,
        ip,
        device_id=_string(obj, "device_id", required=False),
        user_agent=_string(obj, "user_agent", required=False, limit=MAX_TEXT),
        country=_pattern(
            obj, "country", _COUNTRY, "an ISO 3166 alpha-2 code such as 'JP'", required=False
        ),
        auth_method=_string(obj, "auth_method", required=False, limit=64),
    )


def _account_change(obj: Mapping[str, Any]) -> AccountChange:
    event_id, customer_id, at = _common(obj)
    change_type = _choice(obj, "change_type", CHANGE_TYPES)
    channel = _choice(obj, "channel", CHANNELS)
    destination = _destination(obj, "destination", required=change_type == "withdrawal_destination")
    return AccountChange(
        event_id,
        customer_id,
        at,
        cast(ChangeType, change_type),
        cast(Channel, channel),
        ip=_ip(obj, "ip", required=False),
        device_id=_string(obj, "device_id", required=False),
        verified=bool(_bool(obj, "verified", required=False)),
        destination=destination,
    )


def _withdrawal(obj: Mapping[str, Any]) -> Withdrawal:
    event_id, customer_id, at = _common(obj)
    withdrawal_id = _req(obj, "withdrawal_id")
    amount = _decimal(obj, "amount", required=True, positive=True)
    currency = _pattern(obj, "currency", _CURRENCY, "an ISO 4217 code such as 'JPY'", required=True)
    destination = _destination(obj, "destination", required=True)
    assert amount is not None and currency is not None and destination is not None
    return Withdrawal(
        event_id,
        customer_id,
        at,
        withdrawal_id,
        amount,
        currency,
        destination,
        channel=_string(obj, "channel", required=False, limit=64),
        ip=_ip(obj, "ip", required=False),
        device_id=_string(obj, "device_id", required=False),
        available_balance=_decimal(obj, "available_balance", required=False, positive=False),
    )


def _case_decision(obj: Mapping[str, Any]) -> CaseDecision:
    decision_id = _req(obj, "decision_id")
    customer_id = _req(obj, "customer_id")
    at = _time(obj, "occurred_at")
    action = _choice(obj, "action", CASE_ACTIONS)
    actor = _req(obj, "actor")
    withdrawal_id = _string(obj, "withdrawal_id", required=action != "verify_destination")
    destination = _destination(obj, "destination", required=action == "verify_destination")
    return CaseDecision(
        decision_id,
        customer_id,
        at,
        cast(CaseAction, action),
        actor,
        withdrawal_id=withdrawal_id,
        destination=destination,
        note=_string(obj, "note", required=False, limit=MAX_TEXT),
    )


_DECODERS: dict[str, Callable[[Mapping[str, Any]], InputEvent]] = {
    "login": _login,
    "account_change": _account_change,
    "withdrawal": _withdrawal,
    "case_decision": _case_decision,
}
