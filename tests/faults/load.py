"""The fault suite's load: many customers, built from `sim/scenarios.py`, attacks in it.

Kept small on purpose: a simulator is being written elsewhere and can replace `build`
as long as it returns a `Load` (input messages in the wire contract, in the order a
producer would send them, and the withdrawal ids among them).

The mix, per draw (seeded, so a run can be repeated):
- an honest customer (90%): sixty days of history and a withdrawal today;
- the 2020 SBI chain (8%): failed-login burst, new device, e-mail change, web change of
  destination, a withdrawal of 95% of the balance;
- a mule pair (2%): two customers setting one destination through the call centre and
  the branch, each withdrawing to it (held only by cross-customer evidence).

Every customer gets a home destination of its own: with one destination shared by
thousands of honest customers, the destinations table would hold one huge value.
Customers arrive one after another, each customer's messages in event-time order.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from withdrawguard.sim import scenarios as s


@dataclass(frozen=True)
class Load:
    messages: list[s.Message]
    withdrawals: dict[str, str]
    """withdrawal id -> customer id."""
    attacks: int
    """Customers attacked (SBI chains and mule customers)."""

    @property
    def account_numbers(self) -> set[str]:
        """Every full account number in the load (no log may contain one)."""
        found: set[str] = set()
        for _, body in self.messages:
            dest = body.get("destination")
            if dest is not None:
                found.add(dest["account_number"])
        return found


def build(events: int, seed: int, now: datetime, tag: str = "f") -> Load:
    """At least `events` messages (whole customers), reproducible from `seed`."""
    rng = random.Random(seed)
    messages: list[s.Message] = []
    attacks = 0
    n = 0
    while len(messages) < events:
        n += 1
        cid = f"{tag}{seed}-c{n}"
        at = now - timedelta(minutes=rng.randint(60, 47 * 60))
        roll = rng.random()
        if roll < 0.08:
            dest = _account(rng, "0009")
            ip = f"198.18.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            messages += _own_home(s.sbi_chain(cid, at, dest, attacker_ip=ip), rng)
            attacks += 1
        elif roll < 0.10:
            messages += _mule_pair(cid, at, rng)
            attacks += 2
        else:
            messages += _own_home(s.honest_withdrawal(cid, at), rng)
    withdrawals = {b["withdrawal_id"]: b["customer_id"] for t, b in messages if t == "withdrawals"}
    return Load(messages, withdrawals, attacks)


def _account(rng: random.Random, bank: str) -> dict[str, str]:
    return {
        "bank_code": bank,
        "branch_code": f"{rng.randint(100, 999)}",
        # Ten digits: a number this long does not turn up in a log by chance.
        "account_number": f"{rng.randint(10**9, 10**10 - 1)}",
    }


def _own_home(msgs: list[s.Message], rng: random.Random) -> list[s.Message]:
    """The scenario with its shared HOME_DEST replaced by an account of the customer's own."""
    home = _account(rng, "0005")
    out: list[s.Message] = []
    for topic, body in msgs:
        if body.get("destination") == s.HOME_DEST:
            body = {**body, "destination": home}
        out.append((topic, body))
    return out


def _mule_pair(cid: str, at: datetime, rng: random.Random) -> list[s.Message]:
    """Two customers setting one destination outside the online channels, withdrawing to it."""
    shared = _account(rng, "0033")
    out: list[s.Message] = []
    for suffix, channel in (("a", "call_center"), ("b", "branch")):
        c = f"{cid}{suffix}"
        msgs: list[s.Message] = s.honest_history(c, at)
        msgs.append(
            s.change(
                c,
                f"{c}-d",
                at - timedelta(days=3),
                "withdrawal_destination",
                channel,
                destination=shared,
            )
        )
        msgs.append(
            s.withdrawal(c, f"{c}-w", at, f"{c}-wd", "50000", destination=shared, ip=s.home_ip(c))
        )
        out += sorted(_own_home(msgs, rng), key=_when)
    return out


def _when(message: s.Message) -> Any:
    return message[1]["occurred_at"]
