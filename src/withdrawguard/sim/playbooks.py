"""Attack playbooks: one parameterized template per kind of attack.

Each playbook plays one attack on one victim (a customer with an honest history) from
`at`, with an attacker's `Kit` (address, device, the account the money goes to) that a
campaign may share between victims, and returns the events and which withdrawals are the
attacker's. The victim's own activity stops when the attack begins (see `generate`).

- `chain_2020`: the SBI Securities chain: a burst of failed logins, a login from a new
  device, a password or email change, a web change of destination, a sell-off of most
  of the holdings (75-100 %, `SELL_SHARE`), then several liquidation-sized withdrawals
  of the cash and the proceeds.
- `patient`: the same steps, days apart (`wait_hours` between them), no guessing burst;
  the sell-off comes hours before the withdrawal, days after the destination change.
- `mule`: one attack of a campaign that points several victims at one mule account.
- `stuffing`: one victim cracked by a credential-stuffing wave: the wave's address tried
  many customers (`wave_targets`, failed attempts mostly) before this one got in.
- `call_center`: the destination changed by telephone with stolen personal data, then
  a withdrawal online from the attacker's device.
- `small`: a web change of destination, then several withdrawals each of a size the
  customer often withdraws (below any amount threshold).
- `device_farm`: one device (a fraud farm's phone, an emulator image) tries stolen
  credentials on many customers within hours (`farm_wave`, `FARM_TARGETS`, failed
  logins), each from another address (residential proxies: no address repeats), and on
  the victim gets in, changes the destination and withdraws: the device, not the
  address, is what links them (`DEVICE_SHARED`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from withdrawguard.sim import scenarios as s
from withdrawguard.sim.customers import Customer, thousands
from withdrawguard.sim.trading import Where, sell_off

PLAYBOOKS = ("chain_2020", "patient", "mule", "stuffing", "call_center", "small", "device_farm")
SELL_SHARE = (0.75, 1.0)
"""The share of the victim's holdings a selling playbook sells: most of it."""


@dataclass(frozen=True, slots=True)
class Kit:
    """What the attacker brings; shared by the attacks of one campaign."""

    campaign: str
    ip: str
    device: str
    destination: dict[str, str]


@dataclass(slots=True)
class Attack:
    attack_id: str
    playbook: str
    campaign: str
    customer_id: str
    begins: datetime
    events: list[tuple[datetime, s.Message]] = field(default_factory=list)
    withdrawal_ids: list[str] = field(default_factory=list)
    trade_ids: list[str] = field(default_factory=list)
    """The attacker's sells of the victim's holdings (none: the attack sold nothing)."""
    n: int = 0

    def eid(self) -> str:
        self.n += 1
        return f"{self.attack_id}-e{self.n}"

    def add(self, at: datetime, msg: s.Message) -> None:
        self.events.append((at, msg))

    def login(self, kit: Kit, at: datetime, *, success: bool = True, cid: str = "") -> None:
        cid = cid or self.customer_id
        self.add(at, s.login(cid, self.eid(), at, success=success, ip=kit.ip, device=kit.device))

    def change(
        self,
        kit: Kit,
        at: datetime,
        change_type: str,
        channel: str = "web",
        destination: dict[str, str] | None = None,
    ) -> None:
        online = channel != "call_center"
        msg = s.change(
            self.customer_id,
            self.eid(),
            at,
            change_type,
            channel,
            ip=kit.ip if online else None,
            device=kit.device if online else None,
            destination=destination,
        )
        self.add(at, msg)

    def sell_off(self, rng: random.Random, kit: Kit, at: datetime, v: Customer) -> int:
        """Most of the victim's holdings sold from the attacker's device, minutes apart;
        returns the proceeds (0: the victim holds no securities)."""
        if not v.holdings:
            return 0
        share = rng.uniform(*SELL_SHARE)
        where = Where("web", kit.ip, kit.device)
        sold = sell_off(rng, self.customer_id, self.eid, at, v.holdings, share, where, 10)
        for when, msg in sold.events:
            self.add(when, msg)
            self.trade_ids.append(msg[1]["event_id"])
        return sold.proceeds

    def withdraw(self, kit: Kit, at: datetime, amount: int, balance: int) -> None:
        wid = f"{self.attack_id}-wd{len(self.withdrawal_ids) + 1}"
        msg = s.withdrawal(
            self.customer_id,
            self.eid(),
            at,
            wid,
            str(amount),
            destination=kit.destination,
            balance=str(balance),
            ip=kit.ip,
            device=kit.device,
        )
        self.add(at, msg)
        self.withdrawal_ids.append(wid)


Playbook = Callable[[random.Random, Attack, Kit, Customer], None]


def _minutes(at: datetime, rng: random.Random, low: float, high: float) -> datetime:
    return at + timedelta(seconds=round(rng.uniform(low, high) * 60))


def _drain(
    a: Attack, kit: Kit, rng: random.Random, v: Customer, at: datetime, k: int, sold: int = 0
) -> None:
    """`k` liquidation-sized withdrawals that together take 80-100 % of the balance (the
    cash and the `sold` proceeds)."""
    balance = v.balance + sold
    left = thousands(balance * rng.uniform(0.8, 1.0))
    for i in range(k):
        amount = left if i == k - 1 else thousands(left * rng.uniform(0.3, 0.6))
        a.withdraw(kit, at, amount, balance)
        balance -= amount
        left -= amount
        at = _minutes(at, rng, 5, 90)


def chain_2020(rng: random.Random, a: Attack, kit: Kit, v: Customer) -> None:
    at = a.begins
    failures = rng.randrange(5, 9)
    for i in range(failures):
        a.login(kit, at + timedelta(seconds=50 * i), success=False)
    at = _minutes(at, rng, failures, failures + 4)
    a.login(kit, at)
    at = _minutes(at, rng, 1, 5)
    a.change(kit, at, rng.choice(("password", "email")))
    at = _minutes(at, rng, 2, 10)
    a.change(kit, at, "withdrawal_destination", destination=kit.destination)
    at = _minutes(at, rng, 2, 30)
    sold = a.sell_off(rng, kit, at, v)
    _drain(a, kit, rng, v, _minutes(a.events[-1][0], rng, 5, 90), rng.randrange(2, 5), sold)


def patient(rng: random.Random, a: Attack, kit: Kit, v: Customer) -> None:
    """Login, credential change, destination change and withdrawal, each 1-4 days apart;
    the holdings sold 1-12 hours before the withdrawal."""
    at = a.begins
    a.login(kit, at)
    for step in ("email", "withdrawal_destination"):
        at += timedelta(hours=rng.uniform(24, 96))
        a.login(kit, _minutes(at, rng, -10, -1))
        a.change(kit, at, step, destination=kit.destination if step != "email" else None)
    at += timedelta(hours=rng.uniform(24, 96))
    selling = at - timedelta(hours=rng.uniform(1, 12))
    a.login(kit, _minutes(selling, rng, -10, -1))
    sold = a.sell_off(rng, kit, selling, v)
    a.login(kit, _minutes(at, rng, -10, -1))
    _drain(a, kit, rng, v, at, 1, sold)


def mule(rng: random.Random, a: Attack, kit: Kit, v: Customer) -> None:
    at = a.begins
    a.login(kit, at)
    at = _minutes(at, rng, 2, 15)
    a.change(kit, at, "withdrawal_destination", destination=kit.destination)
    _drain(a, kit, rng, v, _minutes(at, rng, 5, 60), rng.randrange(1, 3))


def stuffing(rng: random.Random, a: Attack, kit: Kit, v: Customer) -> None:
    """The victim's part of a wave; the wave's attempts on other customers come from
    `stuffing_wave`."""
    at = a.begins
    a.login(kit, at, success=False)
    at = _minutes(at, rng, 1, 20)
    a.login(kit, at)
    at = _minutes(at, rng, 5, 60)
    a.change(kit, at, "withdrawal_destination", destination=kit.destination)
    _drain(a, kit, rng, v, _minutes(at, rng, 5, 60), rng.randrange(1, 4))


def stuffing_wave(
    rng: random.Random, a: Attack, kit: Kit, targets: list[Customer], at: datetime
) -> None:
    """Failed attempts from the wave's address on each of `targets` within 40 minutes."""
    for c in targets:
        for _ in range(rng.randrange(1, 4)):
            a.login(kit, _minutes(at, rng, 0, 40), success=False, cid=c.id)


def call_center(rng: random.Random, a: Attack, kit: Kit, v: Customer) -> None:
    """Destination changed by phone, then one withdrawal of 30-95 % of the balance online."""
    at = a.begins
    a.change(kit, at, "withdrawal_destination", "call_center", destination=kit.destination)
    at += timedelta(hours=rng.uniform(1, 30))
    a.login(kit, at)
    at = _minutes(at, rng, 2, 20)
    a.withdraw(kit, at, thousands(v.balance * rng.uniform(0.3, 0.95)), v.balance)


def small(rng: random.Random, a: Attack, kit: Kit, v: Customer) -> None:
    """3-6 withdrawals, each 60-100 % of the customer's typical one, over up to a day."""
    at = a.begins
    a.login(kit, at)
    at = _minutes(at, rng, 2, 15)
    a.change(kit, at, "withdrawal_destination", destination=kit.destination)
    balance = v.balance
    for _ in range(rng.randrange(3, 7)):
        at = _minutes(at, rng, 10, 300)
        amount = min(balance, thousands(v.amount * rng.uniform(0.6, 1.0)))
        a.withdraw(kit, at, amount, balance)
        balance -= amount


def proxy_ip(rng: random.Random) -> str:
    """A residential proxy's address (49.96.0.0/12; the simulation's customers and other
    attackers use other ranges), one per request."""
    return f"49.{96 + rng.randrange(16)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def device_farm(rng: random.Random, a: Attack, kit: Kit, v: Customer) -> None:
    """Login, a web change of destination, and one or two withdrawals that take 40-90 % of
    the balance within three hours, each step from the farm's device and another proxy."""
    at = a.begins
    a.login(replace(kit, ip=proxy_ip(rng)), at)
    at = _minutes(at, rng, 2, 15)
    a.change(
        replace(kit, ip=proxy_ip(rng)), at, "withdrawal_destination", destination=kit.destination
    )
    balance = v.balance
    left = thousands(balance * rng.uniform(0.4, 0.9))
    k = rng.randrange(1, 3)
    for i in range(k):
        at = _minutes(at, rng, 5, 90)
        amount = left if i == k - 1 else thousands(left * rng.uniform(0.3, 0.6))
        a.withdraw(replace(kit, ip=proxy_ip(rng)), at, amount, balance)
        balance, left = balance - amount, left - amount


def farm_wave(
    rng: random.Random, a: Attack, kit: Kit, targets: list[Customer], at: datetime
) -> None:
    """Failed logins from the farm's device, each from another proxy, on each of `targets`
    within three hours either side of `at`."""
    for c in targets:
        for _ in range(rng.randrange(1, 3)):
            when = _minutes(at, rng, -180, 180)
            a.login(replace(kit, ip=proxy_ip(rng)), when, success=False, cid=c.id)


PLAYS: dict[str, Playbook] = {
    "chain_2020": chain_2020,
    "patient": patient,
    "mule": mule,
    "stuffing": stuffing,
    "call_center": call_center,
    "small": small,
    "device_farm": device_farm,
}
DURATION = {
    "chain_2020": timedelta(hours=12),
    "patient": timedelta(days=13),  # at most 3 x 96 h between steps, plus minutes
    "mule": timedelta(days=3),  # the campaign's victims are spread over two days
    "stuffing": timedelta(hours=12),
    "call_center": timedelta(days=2),
    "small": timedelta(days=2),
    "device_farm": timedelta(hours=12),
}
"""How long before the end of the timeline each playbook must begin."""
CAMPAIGN_SIZE = {"mule": 3, "stuffing": 3}
"""Victims per campaign of the playbooks that share a kit; the others have one each."""
FARM_TARGETS = (4, 9)
"""A device farm tries this many customers besides its victim (DEVICE_SHARED counts 4
within a day by default)."""
