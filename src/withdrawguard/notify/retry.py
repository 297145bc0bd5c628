"""Exponential backoff with jitter, and which failures are worth retrying."""

from __future__ import annotations

from collections.abc import Callable


class DeliveryError(Exception):
    """A channel could not deliver. The message is safe to log: it never holds a secret
    (no URL, no key), only the kind of failure and the receiver's status."""


class PermanentError(DeliveryError):
    """The receiver refused the message itself (4xx other than 408/429): do not retry."""


def backoff_delay(attempt: int, base: float, cap: float, rand: Callable[[], float]) -> float:
    """Seconds to wait after failed attempt `attempt` (1-based): "equal jitter", a delay
    between half and all of min(cap, base * 2**(attempt-1)), so retries of many workers
    spread out but never come back at once."""
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, 64))  # 2.0**1024 would overflow
    return ceiling / 2 + rand() * ceiling / 2


def schedule(attempts: int, base: float, cap: float, rand: Callable[[], float]) -> list[float]:
    """The waits between `attempts` tries (one fewer than the attempts)."""
    return [backoff_delay(n, base, cap, rand) for n in range(1, attempts)]


def retryable_status(status: int) -> bool:
    return status >= 500 or status in (408, 429)
