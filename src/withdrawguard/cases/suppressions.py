"""Suppressions: named reasons muted for one customer until a time, recorded with the
case and the person that created them. `applying` is the helper the engine calls to
learn which of a verdict's reasons are muted, and by which suppression."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Suppression:
    suppression_id: str
    customer_id: str
    reason_codes: tuple[str, ...]
    until: datetime
    note: str
    created_by: str
    created_at: datetime
    case_id: str

    def active_at(self, now: datetime) -> bool:
        """In force from its creation up to (not including) `until`."""
        return self.created_at <= now < self.until

    def expired_at(self, now: datetime) -> bool:
        return now >= self.until


@dataclass(frozen=True, slots=True)
class Applied:
    """One reason of a verdict muted by one suppression."""

    reason_code: str
    suppression: Suppression


def duration_problem(created_at: datetime, until: datetime, longest: timedelta) -> str | None:
    """Why a suppression from `created_at` to `until` may not be made, or None."""
    if until <= created_at:
        return f"'until' ({until.isoformat()}) must be later than now ({created_at.isoformat()})"
    if until - created_at > longest:
        return (
            f"a suppression may last at most {_span(longest)}; "
            f"this one would last {_span(until - created_at)}"
        )
    return None


def applying(
    suppressions: Iterable[Suppression],
    customer_id: str,
    reason_codes: Iterable[str],
    at: datetime,
) -> tuple[Applied, ...]:
    """Which of `reason_codes` are muted for `customer_id` at `at`, and by which
    suppression: for each muted code the active suppression lasting longest (then the
    smallest id), so the answer does not depend on the order they are given in."""
    active = [s for s in suppressions if s.customer_id == customer_id and s.active_at(at)]
    out: list[Applied] = []
    for code in dict.fromkeys(reason_codes):
        covering = [s for s in active if code in s.reason_codes]
        if covering:
            best = min(covering, key=lambda s: (-s.until.timestamp(), s.suppression_id))
            out.append(Applied(code, best))
    return tuple(out)


def unmuted(
    suppressions: Iterable[Suppression],
    customer_id: str,
    reason_codes: Iterable[str],
    at: datetime,
) -> tuple[str, ...]:
    """The reason codes no active suppression mutes, in their order."""
    codes = tuple(reason_codes)
    muted = {a.reason_code for a in applying(suppressions, customer_id, codes, at)}
    return tuple(c for c in codes if c not in muted)


def expired(suppressions: Iterable[Suppression], now: datetime) -> tuple[Suppression, ...]:
    """The suppressions whose time is up at `now` (to be recorded as expired)."""
    return tuple(s for s in suppressions if s.expired_at(now))


def _span(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:g} days" if hours >= 48 else f"{hours:g} hours"
