"""Honest customers' habits (who they are: `customers`).

Their history over the timeline: logins at plausible local hours (07:00-23:00), an
occasional mistyped password, periodic withdrawals to their destination, now and then a
buy or a sell of a few percent of their holdings, and now and then an honest change of
habit:

- a new bank account (via web, mail or the call center), soon withdrawn to;
- a new phone (sometimes re-registering MFA from it);
- a password reset after a few failed logins;
- an email change;
- a trip abroad with a phone bought there;
- a one-off large withdrawal (a house, a car);
- a sell-off: most of the holdings (70-100 %) sold in one to three orders, the proceeds
  withdrawn within two days; in `SELL_AFTER_CHANGE` of them to a bank account set
  up to three days before (a new bank for the money): what `LIQUIDATION` holds too.

In the first `WARMUP` there are only logins (each habitual device's first one within the
first day), so that the detector has known every habitual device for longer than
`new_device.new_for_days` when changes, withdrawals and attacks begin. Every change of
habit is recorded as a `Habit` for the labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from withdrawguard.sim import scenarios as s
from withdrawguard.sim.customers import Customer, thousands
from withdrawguard.sim.identities import COUNTRIES_ABROAD, Identities
from withdrawguard.sim.trading import Where, sell_off, trade

WARMUP = timedelta(days=9)
# Chance per customer per 30 days of each honest change of habit.
RATES = {
    "bank": 0.05,
    "phone": 0.04,
    "password": 0.03,
    "email": 0.02,
    "trip": 0.015,
    "big": 0.03,
    "sell_off": 0.03,
}
SELL_AFTER_CHANGE = 0.4
TRADES_PER_DAY = (0.0, 0.1)
"""Routine buys and sells per day of a customer with holdings: drawn between these."""
DESTINATION_CHANGE = "destination_change"
CREDENTIAL_CHANGE = "credential_change"
NEW_DEVICE = "new_device"
SELL_OFF = "sell_off"


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
        self.sold: list[tuple[datetime, int]] = []
        """(last sell, holdings' value after it) of each sell-off."""

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

    def holdings(self, at: datetime) -> int:
        """The holdings' value at `at`: as at the start, or after the latest sell-off."""
        worth = self.c.holdings
        for when, after in self.sold:
            if when <= at:
                worth = after
        return worth

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
    if c.holdings:
        _trades(life, active, end, rng.uniform(*TRADES_PER_DAY))
    life.out.events = [(t, m) for t, m in life.out.events if t < end]
    life.out.habits = [h for h in life.out.habits if h.at < end]
    return life.out


def _trades(life: _Life, begin: datetime, end: datetime, per_day: float) -> None:
    """Routine buys and sells of 2-12 % of the holdings, after a login."""
    rng, c = life.rng, life.c
    # A gap past the end is as good as any longer one (a rate near 0 draws gaps beyond
    # the calendar: `timedelta` overflowed on seed 12 of bench/quality.py).
    span = (end - begin).days + 1
    at = begin + timedelta(days=min(rng.expovariate(per_day), span)) if per_day else end
    while at < end:
        at = life.plausible(at)
        mobile = rng.random() < 0.5
        life.login(at - timedelta(seconds=rng.randrange(30, 600)), mobile=mobile)
        device, ip, _ = life.device(at, mobile)
        worth = life.holdings(at)
        side = "buy" if rng.random() < 0.55 else "sell"
        where = Where("mobile" if mobile else "web", ip, device)
        value = max(1000, round(worth * rng.uniform(0.02, 0.12)))
        msg, _, _ = trade(rng, c.id, life.eid("t"), at, value, worth, where, side)
        life.add(at, msg)
        at += timedelta(days=min(rng.expovariate(per_day), span))


def _new_bank(life: _Life, at: datetime) -> None:
    """An honest change of destination to a new account of the customer's own."""
    rng, c = life.rng, life.c
    dest = life.ids.destination(c.name)
    channel = rng.choices(("web", "mail", "call_center"), (0.6, 0.25, 0.15))[0]
    if channel == "web":
        life.online_change(at, "withdrawal_destination", destination=dest)
    else:
        msg = s.change(c.id, life.eid("c"), at, "withdrawal_destination", channel, destination=dest)
        life.add(at, msg)
    life.dest_changes.append((at, dest))
    life.habit(DESTINATION_CHANGE, at)


def _sell_off(life: _Life, at: datetime) -> None:
    """Most of the holdings sold, perhaps after a new bank account, and withdrawn."""
    rng, c = life.rng, life.c
    if rng.random() < SELL_AFTER_CHANGE:
        _new_bank(life, life.plausible(at - timedelta(hours=rng.uniform(2, 72))))
    mobile = rng.random() < 0.5
    life.login(at - timedelta(seconds=rng.randrange(30, 600)), mobile=mobile)
    device, ip, _ = life.device(at, mobile)
    where = Where("mobile" if mobile else "web", ip, device)
    eid = lambda: life.eid("t")  # noqa: E731 - a one-line id source for sell_off
    sold = sell_off(rng, c.id, eid, at, life.holdings(at), rng.uniform(0.7, 1.0), where, 180)
    for when, msg in sold.events:
        life.add(when, msg)
    life.sold.append((sold.last, sold.holdings_after))
    life.habit(SELL_OFF, sold.last)
    life.balance += sold.proceeds
    life.withdraw(sold.last + timedelta(hours=rng.uniform(2, 48)), thousands(sold.proceeds))


def _change(life: _Life, kind: str, at: datetime) -> None:
    rng, c = life.rng, life.c
    later = at + timedelta(hours=rng.uniform(2, 120))
    if kind == "bank":
        _new_bank(life, at)
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
    elif kind == "sell_off":
        if c.holdings:  # a cash-only customer has nothing to sell
            _sell_off(life, at)
    else:  # pragma: no cover - RATES names every kind
        raise AssertionError(kind)
