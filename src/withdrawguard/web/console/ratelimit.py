"""Failed sign-ins, limited per user name and per client address.

Pure: the caller passes the time. Each key may fail `limit` times within `window`
seconds; then sign-ins for it are refused (even with the right password) until the
oldest failure leaves the window. Counts are per worker process.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

MAX_KEYS = 100_000
"""Keys remembered at most; beyond it the stalest are forgotten (bounded memory)."""


@dataclass
class FailureLimiter:
    limit: int
    window: float
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def blocked(self, key: str, now: float) -> bool:
        q = self._failures.get(key)
        if q is None:
            return False
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            del self._failures[key]
            return False
        return len(q) >= self.limit

    def failed(self, key: str, now: float) -> None:
        if key not in self._failures and len(self._failures) >= MAX_KEYS:
            del self._failures[next(iter(self._failures))]
        self._failures.setdefault(key, deque(maxlen=self.limit)).append(now)

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)


@dataclass
class SignInLimiter:
    """Five failures per user and twenty per address in fifteen minutes, by default."""

    per_user: FailureLimiter = field(default_factory=lambda: FailureLimiter(5, 900.0))
    per_address: FailureLimiter = field(default_factory=lambda: FailureLimiter(20, 900.0))

    def blocked(self, user: str, address: str, now: float) -> str | None:
        """Why a sign-in is refused before its password is checked, or None."""
        if self.per_address.blocked(address, now):
            return "too many failed sign-ins from this address"
        if self.per_user.blocked(user, now):
            return "too many failed sign-ins for this user"
        return None

    def failed(self, user: str, address: str, now: float) -> None:
        self.per_user.failed(user, now)
        self.per_address.failed(address, now)

    def succeeded(self, user: str) -> None:
        self.per_user.clear(user)
