"""Trades as a broker's order system reports them, for honest customers and attackers.

A sell of a value from holdings worth `holdings`: an instrument, a whole number of units
at a plausible price, proceeds a little below quantity x price (fees and taxes up to 1 %,
well within the contract's 5 %), and `holdings_value_after`. A sell-off is one to three
such sells that together take `share` of the holdings; `LIQUIDATION` measures the share
as the proceeds over the proceeds plus the value after the last sell, a little below
`share` because of the fees.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from withdrawguard.sim import scenarios as s

INSTRUMENTS = (
    "JP3633400001",
    "JP3435000009",
    "JP3788600009",
    "JP3902900004",
    "JP3436100006",
    "JP3890350006",
    "US0378331005",
    "IE00B4L5Y983",
)


@dataclass(frozen=True, slots=True)
class Where:
    """Where an order was placed from (all optional in the contract)."""

    channel: str | None = "web"
    ip: str | None = None
    device: str | None = None


@dataclass(frozen=True, slots=True)
class Sold:
    """A sell-off: its messages, what it raised, what the holdings are worth after it."""

    events: list[tuple[datetime, s.Message]]
    proceeds: int
    holdings_after: int

    @property
    def last(self) -> datetime:
        return self.events[-1][0]


def trade(
    rng: random.Random,
    cid: str,
    eid: str,
    at: datetime,
    value: int,
    holdings: int,
    where: Where,
    side: str = "sell",
) -> tuple[s.Message, int, int]:
    """One trade of about `value` from holdings worth `holdings` before it; (message,
    proceeds, quantity x price)."""
    price = rng.randrange(300, 30_000)
    quantity = max(1, round(value / price))
    gross = quantity * price
    proceeds = int(gross * (1 - rng.uniform(0, 0.01)))
    after = holdings - gross if side == "sell" else holdings + gross
    msg = s.trade(
        cid,
        eid,
        at,
        str(proceeds),
        side=side,
        quantity=str(quantity),
        price=str(Decimal(price)),
        holdings_after=str(max(0, after)),
        instrument=rng.choice(INSTRUMENTS),
        channel=where.channel,
        ip=where.ip,
        device=where.device,
    )
    return msg, proceeds, gross


def sell_off(
    rng: random.Random,
    cid: str,
    eid: Callable[[], str],
    at: datetime,
    holdings: int,
    share: float,
    where: Where,
    spread_minutes: float,
) -> Sold:
    """One to three sells from `at`, each up to `spread_minutes` after the one before,
    that together take `share` of `holdings`."""
    count = rng.randrange(1, 4)
    left = round(holdings * share)
    events: list[tuple[datetime, s.Message]] = []
    proceeds = 0
    for i in range(count):
        value = left if i == count - 1 else round(left * rng.uniform(0.3, 0.6))
        if i:
            at += timedelta(seconds=round(rng.uniform(1, spread_minutes) * 60))
        msg, got, gross = trade(rng, cid, eid(), at, value, holdings, where)
        events.append((at, msg))
        proceeds += got
        holdings = max(0, holdings - gross)
        left -= value
    return Sold(events, proceeds, holdings)
