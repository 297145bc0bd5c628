"""Reading one field of an input payload: each reader checks the type, the size and the
form the contract gives it (docs/contract.md), and raises `InvalidEvent` naming the
field and what is wrong with it. `decode` builds the events from these.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from withdrawguard.engine.events import Destination

MAX_ID = 256
MAX_TEXT = 2048
MAX_AMOUNT = Decimal("1e15")
RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    r"([Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")
COUNTRY = re.compile(r"[A-Z]{2}")
CURRENCY = re.compile(r"[A-Z]{3}")
CODE = re.compile(r"[0-9A-Za-z][0-9A-Za-z \-]{0,63}")
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


def kind_of(value: Any) -> str:
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


def read_string(
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
        raise InvalidEvent(path, f"must be a string, got {kind_of(value)}")
    if not value.strip():
        raise InvalidEvent(path, "must not be empty")
    if len(value) > limit:
        raise InvalidEvent(path, f"is {len(value)} characters, over the limit of {limit}")
    return value


def read_required(obj: Mapping[str, Any], name: str, prefix: str = "") -> str:
    value = read_string(obj, name, prefix=prefix)
    assert value is not None
    return value


def read_bool(obj: Mapping[str, Any], name: str, *, required: bool) -> bool | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise InvalidEvent(name, "is required")
        return None
    if not isinstance(value, bool):
        raise InvalidEvent(name, f"must be true or false, got {kind_of(value)}")
    return value


def read_time(obj: Mapping[str, Any], name: str) -> datetime:
    value = read_required(obj, name)
    if not RFC3339.fullmatch(value):
        raise InvalidEvent(
            name, f"must be an RFC 3339 timestamp with a UTC offset, got {value[:40]!r}"
        )
    try:
        return datetime.fromisoformat(value.replace("z", "Z").replace("t", "T")).astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidEvent(name, f"is not a valid date and time: {value[:40]!r}") from None


def read_ip(obj: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    value = read_string(obj, name, required=required, limit=64)
    if value is None:
        return None
    normalized = normalize_ip(value)
    if normalized is None:
        raise InvalidEvent(name, f"must be an IPv4 or IPv6 address, got {value[:64]!r}")
    return normalized


@functools.lru_cache(maxsize=65_536)
def normalize_ip(value: str) -> str | None:
    """The canonical text of an address, or None. Cached: sources repeat a lot."""
    if "%" in value:  # an IPv6 zone id names a local interface, not a client
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def read_pattern(
    obj: Mapping[str, Any],
    name: str,
    pattern: re.Pattern[str],
    what: str,
    *,
    required: bool,
    prefix: str = "",
) -> str | None:
    value = read_string(obj, name, required=required, limit=64, prefix=prefix)
    if value is not None and not pattern.fullmatch(value):
        raise InvalidEvent(prefix + name, f"must be {what}, got {value[:64]!r}")
    return value


def read_choice(obj: Mapping[str, Any], name: str, allowed: frozenset[str]) -> str:
    value = read_required(obj, name)
    if value not in allowed:
        raise InvalidEvent(name, f"must be one of {', '.join(sorted(allowed))}; got {value[:40]!r}")
    return value


def read_decimal(
    obj: Mapping[str, Any], name: str, *, required: bool, positive: bool
) -> Decimal | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise InvalidEvent(name, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidEvent(
            name, f"must be a decimal number or a string holding one, got {kind_of(value)}"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidEvent(name, "must be a finite number")
    text = repr(value) if isinstance(value, float) else str(value)
    if len(text) > 40:
        raise InvalidEvent(name, "has too many digits (at most 40 characters)")
    if isinstance(value, str) and not DECIMAL.fullmatch(text):
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


def read_destination(obj: Mapping[str, Any], name: str, *, required: bool) -> Destination | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise InvalidEvent(name, "is required")
        return None
    if not isinstance(value, dict):
        raise InvalidEvent(name, f"must be an object, got {kind_of(value)}")
    prefix = name + "."
    bank = read_pattern(
        value, "bank_code", CODE, "a bank code (letters, digits)", required=True, prefix=prefix
    )
    account = read_pattern(
        value,
        "account_number",
        CODE,
        "an account number (letters, digits)",
        required=True,
        prefix=prefix,
    )
    branch = read_pattern(
        value,
        "branch_code",
        CODE,
        "a branch code (letters, digits)",
        required=False,
        prefix=prefix,
    )
    holder = read_string(value, "holder_name", required=False, limit=MAX_ID, prefix=prefix)
    assert bank is not None and account is not None
    return Destination(bank, account, branch, holder)


def read_muted_codes(
    obj: Mapping[str, Any], codes: frozenset[str], unmutable: frozenset[str], *, required: bool
) -> tuple[str, ...]:
    """A suppression's reason codes: one or more of `codes`, each once, none `unmutable`."""
    value = obj.get("reason_codes")
    if value is None:
        if required:
            raise InvalidEvent("reason_codes", "is required")
        return ()
    if not isinstance(value, list):
        raise InvalidEvent("reason_codes", f"must be an array, got {kind_of(value)}")
    if not value:
        raise InvalidEvent("reason_codes", "must name at least one reason code")
    for i, code in enumerate(value):
        where = f"reason_codes.{i}"
        if not isinstance(code, str):
            raise InvalidEvent(where, f"must be a string, got {kind_of(code)}")
        if code in unmutable:
            raise InvalidEvent(where, f"{code} may never be suppressed")
        if code not in codes:
            known = ", ".join(sorted(codes - unmutable))
            raise InvalidEvent(where, f"{code[:40]!r} is not a reason code one may mute ({known})")
    if len(set(value)) != len(value):
        raise InvalidEvent("reason_codes", "names a reason code more than once")
    return tuple(value)


def read_until(
    obj: Mapping[str, Any], at: datetime, longest: timedelta, *, required: bool
) -> datetime | None:
    """When a suppression ends: after `occurred_at`, and at most `longest` after it."""
    if obj.get("until") is None and not required:
        return None
    until = read_time(obj, "until")
    if until <= at:
        raise InvalidEvent("until", "must be later than occurred_at")
    if until - at > longest:
        raise InvalidEvent(
            "until", f"is more than {longest.days} days after occurred_at (the longest suppression)"
        )
    return until
