"""The case-work policy values: four-eyes release thresholds per currency, how long a
proposal stays open, the longest suppression, the window of device links (`cases.links`).
Read from a `[cases]` table (meant to sit in the detection policy) and validated as
engine/policy.py does: unknown keys, wrong types and out-of-range values are errors that
name the key."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from withdrawguard.engine.policy import PolicyError

MAX_HOURS = 24 * 366
MAX_AMOUNT = Decimal("1e15")
_CURRENCY = re.compile(r"[A-Z]{3}")
_DEFAULTS: dict[str, Any] = {
    "proposal_expiry_hours": 24,
    "max_suppression_days": 30,
    "four_eyes_release_at": {"JPY": "1000000"},
    "link_device_window_days": 30,
}


@dataclass(frozen=True, slots=True)
class CasePolicy:
    """`four_eyes_release_at[currency]`: releasing a hold of at least this amount takes
    two people. A currency not listed always takes two (no threshold is not no control)."""

    proposal_ttl: timedelta = timedelta(hours=24)
    max_suppression: timedelta = timedelta(days=30)
    four_eyes_release_at: Mapping[str, Decimal] = field(
        default_factory=lambda: {"JPY": Decimal(1_000_000)}
    )
    link_device_window: timedelta = timedelta(days=30)
    """Two customers signing in from one device this close in event time are linked (the
    destination and IP links take their rules' windows from the detection policy)."""

    def needs_four_eyes(self, amount: Decimal, currency: str) -> bool:
        threshold = self.four_eyes_release_at.get(currency)
        return threshold is None or amount >= threshold


def case_policy_from(table: Mapping[str, Any], where: str = "cases") -> CasePolicy:
    """The case policy of a parsed `[cases]` table laid over the defaults; PolicyError
    names the key (`cases.four_eyes_release_at.JPY`) and the problem."""
    raw = {**_DEFAULTS}
    for key, value in table.items():
        if key not in _DEFAULTS:
            raise PolicyError(f"unknown policy key '{where}.{key}'")
        raw[key] = value
    hours = _whole(raw["proposal_expiry_hours"], f"{where}.proposal_expiry_hours", MAX_HOURS)
    days = _whole(raw["max_suppression_days"], f"{where}.max_suppression_days", 366)
    thresholds = raw["four_eyes_release_at"]
    if not isinstance(thresholds, Mapping):
        raise PolicyError(f"'{where}.four_eyes_release_at' must be a table")
    amounts: dict[str, Decimal] = {}
    for currency, text in thresholds.items():
        path = f"{where}.four_eyes_release_at.{currency}"
        if not _CURRENCY.fullmatch(currency):
            raise PolicyError(f"'{path}': the key must be an ISO 4217 code in upper case")
        amounts[currency] = decimal_at(text, path)
    device = _whole(raw["link_device_window_days"], f"{where}.link_device_window_days", 366)
    return CasePolicy(timedelta(hours=hours), timedelta(days=days), amounts, timedelta(days=device))


def _whole(value: Any, path: str, most: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyError(f"'{path}' must be of type int, got {type(value).__name__}")
    if not 1 <= value <= most:
        raise PolicyError(f"'{path}' must be from 1 to {most}")
    return value


def decimal_at(
    value: Any, path: str, *, zero: bool = False, error: type[PolicyError] = PolicyError
) -> Decimal:
    """A money amount written as a decimal string at `path` (positive, or from 0 if
    `zero`, at most 1e15); `error` names the path otherwise."""
    if not isinstance(value, str):
        raise error(f"'{path}' must be a decimal in a string, got {type(value).__name__}")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise error(f"'{path}' must be a decimal in a string") from None
    low = "non-negative" if zero else "positive"
    if not amount.is_finite() or not (amount >= 0 if zero else amount > 0) or amount > MAX_AMOUNT:
        raise error(f"'{path}' must be a {low} amount up to 1e15")
    return amount
