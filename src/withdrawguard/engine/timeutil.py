"""Event time as epoch milliseconds, and back to RFC 3339."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime


def to_ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def iso(ms: int) -> str:
    return from_ms(ms).isoformat()


def digest(*parts: str) -> str:
    """A short stable id made of `parts` (for alert ids, notice ids)."""
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=12).hexdigest()
