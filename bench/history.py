"""A generated history in the wire contract: honest customers and 2020-style attacks.

~82% logins, 10% account changes, 3% trades, 5% withdrawals, plus one attack chain
(failed-login burst, login from a new device, e-mail and destination change, a sell-off
of the holdings, a draining withdrawal) per 20,000 events, a quarter of them paying one
shared mule account. Honest trades are 45% buys and 55% sells, one sell in ten a sell-off
of most of the holdings (people sell up honestly too); each states the holdings' value
after it. It streams: no per-customer state (a customer's home network, device, bank
account and holdings derive from their number, so the holdings a trade states are a
snapshot, not a running balance). `History(put, rng)` hands each payload to `put`; the
benchmarks decide where it goes (gzip shards for the scan, Kafka topics for the worker).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

END = datetime(2024, 6, 30, tzinfo=UTC)
SPAN = timedelta(days=730)
ATTACK_EVERY = 20_000
CHANGE_TYPES = ("email", "phone", "password", "mfa", "address")
CHANNELS = ("web", "mobile", "web", "mobile", "call_center", "branch")
MULE = {"bank_code": "0009", "branch_code": "222", "account_number": "7654321"}
INSTRUMENTS = ("JP3633400001", "JP3435000009", "JP3788600009", "JP3902900004", "US0378331005")
ATTACK_EVENTS = 11
"""Messages in one attack chain."""


def home_ip(n: int) -> str:
    return f"100.{64 + (n >> 16) % 64}.{(n >> 8) % 256}.{1 + n % 254}"


def home_dest(n: int) -> dict[str, str]:
    return {"bank_code": f"{n % 97:04d}", "branch_code": "101", "account_number": f"{n:07d}"}


def holdings(n: int) -> int:
    """What customer `n`'s securities are worth, in yen: 0.5 to 20 million."""
    return (1 + n % 40) * 500_000


def trade_fields(rng: random.Random, side: str, value: int, before: int) -> dict[str, str]:
    """An execution of about `value` yen from holdings worth `before`: whole units at a
    price of 300 to 30,000, proceeds up to 1% below quantity x price (fees; the contract
    refuses beyond 5%), and the holdings' value after it."""
    price = rng.randrange(300, 30_000)
    quantity = max(1, round(value / price))
    gross = quantity * price
    proceeds = gross - gross * rng.randrange(100) // 10_000
    after = before - gross if side == "sell" else before + gross
    return {
        "side": side,
        "instrument": rng.choice(INSTRUMENTS),
        "quantity": str(quantity),
        "price": str(price),
        "proceeds": str(proceeds),
        "currency": "JPY",
        "holdings_value_after": str(max(0, after)),
    }


class History:
    """Hands each generated payload to `sink`."""

    def __init__(self, sink: Callable[[dict[str, Any]], None], rng: random.Random) -> None:
        self.sink, self.rng, self.count, self.attacks = sink, rng, 0, 0

    def put(self, body: dict[str, Any]) -> None:
        self.sink(body)
        self.count += 1

    def honest(self, i: int, cid: str, n: int, at: datetime) -> None:
        rng, when = self.rng, at.isoformat()
        common = {"event_id": f"e{i}", "customer_id": cid, "occurred_at": when}
        roll = rng.random()
        if roll < 0.82:
            ok = rng.random() > 0.03
            device = f"d{n}-{rng.randrange(2)}"
            self.put(
                {**common, "type": "login", "success": ok, "ip": home_ip(n), "device_id": device}
            )
        elif roll < 0.92:
            dest = rng.random() < 0.05  # honest destination changes, mostly verified
            body = {
                **common,
                "type": "account_change",
                "change_type": "withdrawal_destination" if dest else rng.choice(CHANGE_TYPES),
                "channel": rng.choice(CHANNELS),
                "verified": rng.random() < 0.8,
                "ip": home_ip(n),
            }
            if dest:
                body["destination"] = home_dest(n + 1_000_000)
            self.put(body)
        elif roll < 0.95:
            self.put({**common, "type": "trade", **self.honest_trade(n)})
        else:
            self.put(
                {
                    **common,
                    "type": "withdrawal",
                    "withdrawal_id": f"w{i}",
                    "amount": str(rng.randrange(1, 500) * 1000),
                    "currency": "JPY",
                    "destination": home_dest(n),
                    "channel": "web",
                    "available_balance": str(rng.randrange(1000, 5000) * 1000),
                    "ip": home_ip(n),
                    "device_id": f"d{n}-0",
                }
            )

    def honest_trade(self, n: int) -> dict[str, str]:
        rng, before = self.rng, holdings(n)
        where = {"channel": rng.choice(("web", "mobile")), "ip": home_ip(n)}
        where["device_id"] = f"d{n}-{rng.randrange(2)}"
        if rng.random() < 0.45:
            bought = before * rng.randrange(5, 21) // 100
            return {**trade_fields(rng, "buy", bought, before), **where}
        share = rng.randrange(80, 101) if rng.random() < 0.1 else rng.randrange(5, 31)
        return {**trade_fields(rng, "sell", before * share // 100, before), **where}

    def attack(self, cid: str, at: datetime) -> None:
        """The 2020 chain against `cid`, starting at `at`."""
        self.attacks += 1
        k, minute = self.attacks, timedelta(minutes=1)
        ip, device = f"198.51.{100 + k % 100}.{1 + k % 250}", f"bot-{k}"
        dest = MULE if k % 4 == 0 else {**MULE, "account_number": f"{8000000 + k}"}

        def body(eid: str, t: int, kind: str, **fields: Any) -> dict[str, Any]:
            when = (at + t * minute).isoformat()
            head = {"event_id": f"x{k}-{eid}", "type": kind, "customer_id": cid}
            return {**head, "occurred_at": when, "ip": ip, "device_id": device, **fields}

        for f in range(6):
            self.put(body(f"f{f}", f, "login", success=False))
        self.put(body("in", 8, "login", success=True))
        change = {"channel": "web", "verified": False}
        self.put(body("em", 10, "account_change", change_type="email", **change))
        dest_change = {"change_type": "withdrawal_destination", "destination": dest}
        self.put(body("de", 15, "account_change", **change, **dest_change))
        sold = trade_fields(self.rng, "sell", 9_800_000, 10_400_000)
        self.put(body("tr", 20, "trade", channel="web", **sold))
        money = {"withdrawal_id": f"x{k}-wd", "amount": "9500000", "currency": "JPY"}
        self.put(
            body(
                "wd",
                25,
                "withdrawal",
                **money,
                destination=dest,
                channel="web",
                available_balance="10000000",
            )
        )


def generate(
    sink: Callable[[dict[str, Any]], None],
    events: int,
    customers: int,
    seed: int,
    end: datetime = END,
    span: timedelta = SPAN,
) -> int:
    """Hand `events` payloads, spread over `span` up to `end`, to `sink`; return how many."""
    rng = random.Random(seed)
    history = History(sink, rng)
    start = end - span
    step = span / events
    for i in _steps():
        if history.count >= events:
            break
        at = start + i * step + timedelta(seconds=rng.random())
        n = rng.randrange(customers)
        if i and i % ATTACK_EVERY == 0 and history.count + ATTACK_EVENTS <= events:
            history.attack(f"c{n}", at)
        else:
            history.honest(i, f"c{n}", n, at)
    return history.count


def _steps() -> Iterator[int]:
    i = 0
    while True:
        yield i
        i += 1
