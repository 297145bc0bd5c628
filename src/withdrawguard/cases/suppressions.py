"""Suppressions on the case side: how long one may last, and which are due to be recorded
as expired. What a suppression is and which reasons it mutes (`Suppression`, `applying`,
`UNMUTABLE`) live in the engine (engine/suppressions.py), which judges withdrawals by
them; the case domain imports them from there, so the case page and the verdict agree."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from withdrawguard.engine.suppressions import (
    UNMUTABLE,
    Applied,
    Suppression,
    applying,
    mutable,
    unmuted,
)

__all__ = [
    "UNMUTABLE",
    "Applied",
    "Suppression",
    "applying",
    "duration_problem",
    "expired",
    "mutable",
    "unmuted",
]


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


def expired(suppressions: Iterable[Suppression], now: datetime) -> tuple[Suppression, ...]:
    """The suppressions whose time is up at `now` (to be recorded as expired)."""
    return tuple(s for s in suppressions if s.expired_at(now))


def _span(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:g} days" if hours >= 48 else f"{hours:g} hours"
