"""The simulated customers: who they are and what they own.

Each customer has a timezone, a computer and a phone, a home network and a mobile
network, a long-standing withdrawal destination, a typical withdrawal size and period,
cash (`balance`) and, for most, securities (`holdings`, their market value): at a
securities firm most of a customer's money is in holdings, so they are worth one to six
times the cash; one customer in seven holds cash only.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta, timezone

from withdrawguard.sim.identities import Identities

_ZONES = ((9, "JP", 0.9), (8, "SG", 0.04), (0, "GB", 0.03), (-5, "US", 0.03))
CASH_ONLY = 1 / 7
"""The share of customers who hold no securities."""


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    name: str
    zone: timezone
    country: str
    computer: str
    phone: str
    home_ip: str
    mobile_ip: str
    destination: dict[str, str]
    amount: int
    """Typical withdrawal, JPY."""
    balance: int
    """Cash, JPY."""
    holdings: int
    """Market value of the securities held, JPY (0: cash only)."""
    period_days: float
    logins_per_day: float


def thousands(amount: float) -> int:
    """An amount in whole thousands of yen."""
    return int(round(amount, -3))


def make_customers(ids: Identities, count: int, prefix: str) -> list[Customer]:
    rng = ids.rng
    out = []
    for i in range(count):
        hours, country = _zone(rng)
        amount = max(10_000, thousands(rng.lognormvariate(11.4, 0.7)))
        name = ids.holder()
        balance = amount * rng.randrange(15, 200)
        holds = rng.random() >= CASH_ONLY
        out.append(
            Customer(
                id=f"{prefix}C{i:06d}",
                name=name,
                zone=timezone(timedelta(hours=hours)),
                country=country,
                computer=ids.device("pc"),
                phone=ids.device("ph"),
                home_ip=ids.home_ip(),
                mobile_ip=ids.home_ip(),
                destination=ids.destination(name),
                amount=amount,
                balance=balance,
                holdings=thousands(balance * rng.uniform(1, 6)) if holds else 0,
                period_days=rng.uniform(6, 30),
                logins_per_day=rng.uniform(0.2, 1.0),
            )
        )
    return out


def _zone(rng: random.Random) -> tuple[int, str]:
    x = rng.random()
    for hours, country, share in _ZONES:
        if x < share:
            return hours, country
        x -= share
    return _ZONES[0][0], _ZONES[0][1]
