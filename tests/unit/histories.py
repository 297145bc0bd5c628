"""A generated history in the wire contract, for the scan's tests: many honest customers,
some victims of the 2020 chain (mule accounts shared between them), credential-stuffing
waves, honest destination changes, and case decisions.

Every event has its own second (no two events anywhere share a time), so "event-time
order" is a single order. All attacks fall in the last five days of the history, inside
the engine's re-evaluation window, so that a detector hearing of cross-customer evidence
late (the streaming worker, or the Player) still acts on it.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from withdrawguard.sim import scenarios as s

END = datetime(2024, 6, 30, tzinfo=UTC)


class _Clock:
    """Hands out distinct seconds."""

    def __init__(self) -> None:
        self.used: set[int] = set()

    def __call__(self, at: datetime) -> datetime:
        second = int(at.timestamp())
        while second in self.used:
            second += 1
        self.used.add(second)
        return datetime.fromtimestamp(second, tz=UTC)


def generated_history(
    seed: int, customers: int = 150, days: int = 45, prefix: str = "", end: datetime = END
) -> list[s.Message]:
    """The history, in event-time order. `prefix` goes before every customer id."""
    rng = random.Random(seed)
    at = _Clock()
    msgs: list[tuple[datetime, s.Message]] = []

    def add(message: s.Message) -> None:
        msgs.append((datetime.fromisoformat(message[1]["occurred_at"]), message))

    mules = [
        {"bank_code": "0009", "branch_code": "222", "account_number": f"76{seed % 1000:03d}{i:02d}"}
        for i in range(5)
    ]
    attacker_ips = [f"198.51.{100 + seed % 100}.{i}" for i in range(1, 7)]
    start = end - timedelta(days=days)
    attack_from = end - timedelta(days=5)
    ids = iter(range(10**9))

    def eid(cid: str, kind: str) -> str:
        return f"{cid}-{kind}{next(ids)}"

    for n in range(customers):
        cid = f"{prefix}c{n:04d}"
        home = {"bank_code": "0005", "branch_code": "101", "account_number": f"{1000000 + n}"}
        t = start + timedelta(hours=rng.uniform(0, 48))
        while t < end - timedelta(hours=12):
            add(s.login(cid, eid(cid, "l"), at(t)))
            if rng.random() < 0.04:
                add(s.login(cid, eid(cid, "f"), at(t - timedelta(minutes=1)), success=False))
            if rng.random() < 0.25:
                amount = str(rng.choice((10_000, 50_000, 120_000, 300_000)))
                wid = eid(cid, "wd")
                add(
                    s.withdrawal(
                        cid,
                        eid(cid, "w"),
                        at(t + timedelta(minutes=3)),
                        wid,
                        amount,
                        destination=home,
                        balance=rng.choice((None, "2000000", "5000000")),
                        ip=s.home_ip(cid),
                        device=s.home_device(cid),
                    )
                )
            t += timedelta(hours=rng.uniform(20, 90))
        role = rng.random()
        when = attack_from + timedelta(hours=rng.uniform(0, 100))
        if role < 0.18:
            _victim(rng, cid, when, rng.choice(mules), rng.choice(attacker_ips), add, at, eid)
        elif role < 0.28:
            _honest_change(rng, cid, when, add, at, eid)
    for wave in range(3):
        ip = f"203.0.{seed % 200}.{50 + wave}"
        _stuffing_wave(rng, ip, customers, attack_from, mules, add, at, eid, prefix)
    msgs.sort(key=lambda item: item[0])
    return [m for _, m in msgs]


def _victim(rng, cid, when, mule, ip, add, at, eid) -> None:
    """The 2020 chain, with parts of it left out at random."""
    if rng.random() < 0.7:
        for i in range(rng.choice((3, 5, 6))):
            add(s.login(cid, eid(cid, "f"), at(when + timedelta(minutes=i)), success=False, ip=ip))
    add(s.login(cid, eid(cid, "l"), at(when + timedelta(minutes=8)), ip=ip, device="dev-x"))
    if rng.random() < 0.6:
        add(s.change(cid, eid(cid, "c"), at(when + timedelta(minutes=10)), "email", ip=ip))
    channel = rng.choice(("web", "web", "mobile", "call_center"))
    add(
        s.change(
            cid,
            eid(cid, "c"),
            at(when + timedelta(minutes=15)),
            "withdrawal_destination",
            channel,
            ip=ip,
            device="dev-x",
            destination=mule,
        )
    )
    wid = eid(cid, "wd")
    amount = rng.choice(("9500000", "400000"))
    add(
        s.withdrawal(
            cid,
            eid(cid, "w"),
            at(when + timedelta(minutes=25)),
            wid,
            amount,
            destination=mule,
            balance="10000000",
            ip=ip,
            device="dev-x",
        )
    )
    if rng.random() < 0.3:
        action = rng.choice(("confirm_fraud", "release"))
        decided = at(when + timedelta(hours=2))
        add(s.case(cid, eid(cid, "d"), decided, action, withdrawal_id=wid))


def _honest_change(rng, cid, when, add, at, eid) -> None:
    """A customer moving to a new bank account of their own, then withdrawing to it."""
    own = {"bank_code": "0001", "branch_code": "300", "account_number": f"5{cid[1:]}77"}
    channel = rng.choice(("branch", "mail", "web"))
    add(s.login(cid, eid(cid, "l"), at(when - timedelta(minutes=5))))
    add(
        s.change(
            cid,
            eid(cid, "c"),
            at(when),
            "withdrawal_destination",
            channel,
            ip=s.home_ip(cid),
            device=s.home_device(cid),
            destination=own,
            verified=channel == "branch",
        )
    )
    later = when + timedelta(hours=rng.choice((2, 30, 100)))
    add(
        s.withdrawal(
            cid,
            eid(cid, "w"),
            at(later),
            eid(cid, "wd"),
            "200000",
            destination=own,
            balance="3000000",
            ip=s.home_ip(cid),
            device=s.home_device(cid),
        )
    )


def _stuffing_wave(rng, ip, customers, attack_from, mules, add, at, eid, prefix) -> None:
    """One IP tries six customers within the hour, then gets into one and cashes out."""
    t0 = attack_from + timedelta(hours=rng.uniform(0, 90))
    targets = [f"{prefix}c{n:04d}" for n in rng.sample(range(customers), 6)]
    for i, cid in enumerate(targets):
        add(s.login(cid, eid(cid, "f"), at(t0 + timedelta(minutes=7 * i)), success=False, ip=ip))
    cid = targets[-1]
    t1 = t0 + timedelta(minutes=50)
    add(s.login(cid, eid(cid, "l"), at(t1), ip=ip, device="dev-bot"))
    mule = rng.choice(mules)
    add(
        s.change(
            cid,
            eid(cid, "c"),
            at(t1 + timedelta(minutes=3)),
            "withdrawal_destination",
            "call_center",
            ip=ip,
            destination=mule,
        )
    )
    add(
        s.withdrawal(
            cid,
            eid(cid, "w"),
            at(t1 + timedelta(minutes=9)),
            eid(cid, "wd"),
            "300000",
            destination=mule,
            ip=ip,
            device="dev-bot",
        )
    )
