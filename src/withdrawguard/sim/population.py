"""Honest customers and their habits.

Each customer has a timezone, a computer and a phone, a home network and a mobile
network, a long-standing withdrawal destination, a typical withdrawal size and period.
Their history over the timeline: logins at plausible local hours (07:00-23:00), an
occasional mistyped password, periodic withdrawals to their destination, and now and
then an honest change of habit:

- a new bank account (via web, mail or the call center), soon withdrawn to;
- a new phone (sometimes re-registering MFA from it);
- a password reset after a few failed logins;
- an email change;
- a trip abroad with a phone bought there;
- a one-off large withdrawal (a house, a car).

In the first `WARMUP` there are only logins (each habitual device's first one within the
first day), so that the detector has known every habitual device for longer than
`new_device.new_for_days` when changes, withdrawals and attacks begin. Every change of
habit is recorded as a `Habit` for the labels.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from withdrawguard.sim import scenarios as s
from withdrawguard.sim.identities import COUNTRIES_ABROAD, Identities

WARMUP = timedelta(days=9)
_ZONES = ((9, "JP", 0.9), (8, "SG", 0.04), (0, "GB", 0.03), (-5, "US", 0.03))
# Chance per customer per 30 days of each honest change of habit.
RATES = {
    "bank": 0.05,
    "phone": 0.04,
    "password": 0.03,
    "email": 0.02,
    "trip": 0.015,
    "big": 0.03,
}
DESTINATION_CHANGE = "destination_change"
CREDENTIAL_CHANGE = "credential_change"
NEW_DEVICE = "new_device"


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
    period_days: float
    logins_per_day: float


@dataclass(frozen=True, slots=True)
class Habit:
    """An honest change of habit, for the labels: which kind, and when."""

    customer_id: str
    kind: str
    at: datetime


@dataclass(slots=True)
class History:
    """Events as (event time, message), in the order they were made."""

    events: list[tuple[datetime, s.Message]] = field(default_factory=list)
    habits: list[Habit] = field(default_factory=list)


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
                balance=amount * rng.randrange(15, 200),
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


class _Life:
    """One customer's history being written."""

    def __init__(self, c: Customer, ids: Identities, start: datetime, end: datetime) -> None:
        self.c, self.ids, self.rng = c, ids, ids.rng
        self.start, self.end = start, end
        self.out = History()
        self.n = 0
        self.balance = c.balance
        self.dest_changes: list[tuple[datetime, dict[str, str]]] = []
        self.phones: list[tuple[datetime, str]] = []
        self.trips: list[tuple[datetime, datetime, str, str, str]] = []

    def eid(self, kind: str) -> str:
        self.n += 1
        return f"{self.c.id}-{kind}{self.n}"

    def add(self, at: datetime, msg: s.Message) -> None:
        self.out.events.append((at, msg))

    def habit(self, kind: str, at: datetime) -> None:
        self.out.habits.append(Habit(self.c.id, kind, at))

    def plausible(self, at: datetime) -> datetime:
        """`at`, or the next local morning when it falls at night."""
        local = at.astimezone(self.c.zone)
        if 7 <= local.hour < 23:
            return local.replace(microsecond=0)
        day = local.date() if local.hour < 7 else local.date() + timedelta(days=1)
        morning = datetime(day.year, day.month, day.day, 7, tzinfo=self.c.zone)
        return morning + timedelta(seconds=self.rng.randrange(3 * 3600))

    def destination(self, at: datetime) -> dict[str, str]:
        dest = self.c.destination
        for when, d in self.dest_changes:
            if when <= at:
                dest = d
        return dest

    def device(self, at: datetime, mobile: bool) -> tuple[str, str, str]:
        """(device id, ip, country) the customer uses at `at`."""
        for begin, finish, device, ip, country in self.trips:
            if begin <= at < finish:
                return device, ip, country
        if not mobile:
            return self.c.computer, self.c.home_ip, self.c.country
        phone = self.c.phone
        for when, p in self.phones:
            if when <= at:
                phone = p
        return phone, self.c.mobile_ip, self.c.country

    def login(self, at: datetime, *, mobile: bool, success: bool = True) -> None:
        device, ip, country = self.device(at, mobile)
        msg = s.login(
            self.c.id, self.eid("l"), at, success=success, ip=ip, device=device, country=country
        )
        self.add(at, msg)

    def withdraw(self, at: datetime, amount: int) -> None:
        at = self.plausible(at)
        mobile = self.rng.random() < 0.5
        self.login(at - timedelta(seconds=self.rng.randrange(30, 600)), mobile=mobile)
        device, ip, _ = self.device(at, mobile)
        amount = min(amount, self.balance)
        msg = s.withdrawal(
            self.c.id,
            self.eid("w"),
            at,
            f"{self.c.id}-wd{self.n}",
            str(amount),
            destination=self.destination(at),
            balance=str(self.balance),
            ip=ip,
            device=device,
        )
        self.balance -= amount
        self.add(at, msg)

    def online_change(
        self, at: datetime, change_type: str, destination: dict[str, str] | None = None
    ) -> None:
        """A change made on the web site, right after logging in from the computer."""
        self.login(at - timedelta(seconds=self.rng.randrange(60, 900)), mobile=False)
        device, ip, _ = self.device(at, False)
        msg = s.change(
            self.c.id,
            self.eid("c"),
            at,
            change_type,
            "web",
            ip=ip,
            device=device,
            destination=destination,
        )
        self.add(at, msg)


def honest_history(
    c: Customer, ids: Identities, start: datetime, end: datetime, scale: float
) -> History:
    """The customer's history between `start` and `end`; `scale` multiplies `RATES`."""
    life = _Life(c, ids, start, end)
    rng = life.rng
    active = start + WARMUP
    if active >= end:
        raise ValueError(f"the timeline must be longer than the warm-up of {WARMUP.days} days")
    span = (end - active).total_seconds()

    def some_time(margin: float = 0.0) -> datetime:
        return life.plausible(active + timedelta(seconds=rng.uniform(0, span * (1 - margin))))

    changes = [k for k, p in RATES.items() if rng.random() < p * scale]
    for kind in changes:
        _change(life, kind, some_time(0.1))
    for mobile in (False, True):  # each habitual device is seen once at the start
        life.login(life.plausible(start + timedelta(hours=rng.uniform(0, 20))), mobile=mobile)
    at = start + timedelta(hours=rng.expovariate(c.logins_per_day / 24))
    while at < end:
        at = life.plausible(at)
        if at >= end:
            break
        mobile = rng.random() < 0.5
        if rng.random() < 0.03:  # a mistyped password
            life.login(at - timedelta(seconds=rng.randrange(5, 60)), mobile=mobile, success=False)
        life.login(at, mobile=mobile)
        at += timedelta(hours=rng.expovariate(c.logins_per_day / 24))
    at = active + timedelta(days=rng.uniform(0, c.period_days))
    while at < end - timedelta(hours=1):
        life.withdraw(at, thousands(c.amount * rng.uniform(0.6, 1.4)))
        at += timedelta(days=c.period_days * rng.uniform(0.7, 1.3))
    life.out.events = [(t, m) for t, m in life.out.events if t < end]
    life.out.habits = [h for h in life.out.habits if h.at < end]
    return life.out


def _change(life: _Life, kind: str, at: datetime) -> None:
    rng, c = life.rng, life.c
    later = at + timedelta(hours=rng.uniform(2, 120))
    if kind == "bank":
        dest = life.ids.destination(c.name)
        channel = rng.choices(("web", "mail", "call_center"), (0.6, 0.25, 0.15))[0]
        if channel == "web":
            life.online_change(at, "withdrawal_destination", destination=dest)
        else:
            life.add(
                at,
                s.change(
                    c.id, life.eid("c"), at, "withdrawal_destination", channel, destination=dest
                ),
            )
        life.dest_changes.append((at, dest))
        life.habit(DESTINATION_CHANGE, at)
        life.withdraw(later, thousands(c.amount * rng.uniform(0.6, 1.4)))
    elif kind == "phone":
        phone = life.ids.device("ph")
        life.phones.append((at, phone))
        life.login(at, mobile=True)
        life.habit(NEW_DEVICE, at)
        if rng.random() < 0.5:
            mfa = at + timedelta(minutes=rng.randrange(2, 30))
            device, ip, _ = life.device(mfa, True)
            life.add(mfa, s.change(c.id, life.eid("c"), mfa, "mfa", "mobile", ip=ip, device=device))
            life.habit(CREDENTIAL_CHANGE, mfa)
    elif kind == "password":
        for i in range(rng.randrange(2, 7)):
            life.login(at + timedelta(seconds=40 * i), mobile=False, success=False)
        reset = at + timedelta(minutes=rng.randrange(6, 30))
        life.online_change(reset, "password")
        life.habit(CREDENTIAL_CHANGE, reset)
    elif kind == "email":
        life.online_change(at, "email")
        life.habit(CREDENTIAL_CHANGE, at)
    elif kind == "trip":
        country = rng.choice(COUNTRIES_ABROAD)
        finish = at + timedelta(days=rng.uniform(3, 10))
        life.trips.append((at, finish, life.ids.device("ph"), life.ids.abroad_ip(), country))
        life.login(at, mobile=True)
        life.habit(NEW_DEVICE, at)
        if rng.random() < 0.5:
            life.withdraw(at + (finish - at) / 2, thousands(c.amount * rng.uniform(0.6, 1.4)))
    elif kind == "big":
        life.withdraw(at, thousands(life.balance * rng.uniform(0.4, 0.7)))
    else:  # pragma: no cover - RATES names every kind
        raise AssertionError(kind)
