"""Per-channel rate limit with a digest, in fixed one-minute windows.

State is in-process, per worker: with several workers a channel may get up to
workers x limit a minute. Alerts over the limit are kept and sent as one digest
("and 37 more alerts") when the window ends; the digest itself is not counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
WINDOW_SECONDS = 60.0


@dataclass
class RateLimiter(Generic[T]):
    per_minute: int
    """0 means unlimited."""
    window_start: float = float("-inf")
    sent: int = 0
    held: list[T] = field(default_factory=list)

    def offer(self, item: T, now: float) -> bool:
        """True when `item` may go now; otherwise it is kept for the window's digest."""
        if self.per_minute <= 0:
            return True
        if now >= self.window_start + WINDOW_SECONDS:
            self.window_start, self.sent = now, 0
        if self.sent < self.per_minute:
            self.sent += 1
            return True
        self.held.append(item)
        return False

    def window_end(self) -> float:
        return self.window_start + WINDOW_SECONDS

    def take_digest(self) -> list[T]:
        """The held-back items (now the caller's to send as a digest)."""
        held, self.held = self.held, []
        return held
