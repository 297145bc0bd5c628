"""The per-customer lock every change of a customer's cases is made under (SET NX PX with
an owner token, in the case store): a customer has at most one open case and intake may
open a new one, so the customer is the unit, not the case."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from withdrawguard.cases.errors import CaseError
from withdrawguard.casework.store import CaseStore

LOCK_TTL_MS = 15_000
LOCK_WAIT = 5.0
LOCK_POLL = 0.02

__all__ = ["LOCK_TTL_MS", "LOCK_WAIT", "Busy", "CustomerLocks", "scope_of"]


class Busy(CaseError):
    """Someone else is changing the customer's cases right now (409: try again)."""

    status = 409


class CustomerLocks:
    def __init__(
        self,
        store: CaseStore,
        ttl_ms: int,
        wait: float,
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self._store, self._ttl, self._wait, self._sleep = store, ttl_ms, wait, sleep

    async def held(self, customer_id: str) -> str:
        """The customer's lock, waited for up to the configured wait (else Busy)."""
        token = await self.take(customer_id, wait=max(self._wait, LOCK_POLL))
        assert token is not None  # with a wait, take returns a token or raises Busy
        return token

    async def take(self, customer_id: str, *, wait: float) -> str | None:
        """The owner token of the customer's lock, waiting up to `wait` seconds; with
        `wait` 0, None when it is held; Busy when it stays held."""
        scope, waited = scope_of(customer_id), 0.0
        while True:
            token = await self._store.lock(scope, self._ttl)
            if token is not None or wait == 0:
                return token
            if waited >= wait:
                raise Busy(f"customer {customer_id}'s cases are being changed; try again")
            await self._sleep(LOCK_POLL)
            waited += LOCK_POLL

    async def release(self, customer_id: str, token: str) -> None:
        await self._store.unlock(scope_of(customer_id), token)


def scope_of(customer_id: str) -> str:
    """The lock's (and a pending write's) scope: one customer's cases."""
    return f"customer:{customer_id}"
