"""The worker's per-event CPU cost without Kafka: decode the wire bytes, load the
customer's state, apply the engine, encode the state back (what the `detect` agent does
for every event), over a generated mix of 85% logins, 10% changes, 5% withdrawals.

    .venv/bin/python bench/engine_hot_path.py [--events N] [--customers N]

Prints events per second on one core and ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from datetime import UTC, datetime, timedelta

import orjson

from withdrawguard.contract import wire
from withdrawguard.engine.decide import Engine
from withdrawguard.engine.policy import load_policy
from withdrawguard.engine.state import CustomerState, decode_state, encode_state
from withdrawguard.sim import scenarios as s


def generate(n: int, customers: int, seed: int) -> list[tuple[bytes, bytes]]:
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    out: list[tuple[bytes, bytes]] = []
    for i in range(n):
        cid = f"c{rng.randrange(customers)}"
        at = start + timedelta(seconds=i * 2)
        roll = rng.random()
        if roll < 0.85:
            topic, body = s.login(
                cid, f"e{i}", at, success=rng.random() > 0.1, device=f"d{rng.randrange(3)}"
            )
            kind = "login"
        elif roll < 0.95:
            dest = {"bank_code": "0005", "account_number": f"{rng.randrange(10**7):07d}"}
            ctype = rng.choice(["withdrawal_destination", "email", "password", "address"])
            topic, body = s.change(
                cid,
                f"e{i}",
                at,
                ctype,
                rng.choice(["web", "call_center"]),
                destination=dest if ctype == "withdrawal_destination" else None,
            )
            kind = "account_change"
        else:
            dest = {"bank_code": "0005", "account_number": "1234567"}
            topic, body = s.withdrawal(
                cid,
                f"e{i}",
                at,
                f"w{i}",
                str(rng.randrange(1, 10**6)),
                destination=dest,
                balance="5000000",
            )
            kind = "withdrawal"
        del topic
        out.append((cid.encode(), wire.forward(kind, orjson.dumps(body))))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    messages = generate(args.events, args.customers, args.seed)
    engine = Engine(load_policy())
    table: dict[bytes, bytes] = {}
    started = time.perf_counter()
    for key, value in messages:
        event = wire.decode_customer_event(value, 262_144)
        raw = table.get(key)
        state = decode_state(raw) if raw is not None else CustomerState(event.customer_id)
        outcome = engine.apply(state, event)
        if not outcome.duplicate:
            table[key] = encode_state(state)
    elapsed = time.perf_counter() - started
    rate = args.events / elapsed
    print(
        f"{args.events} events, {args.customers} customers: {elapsed:.2f} s, "
        f"{rate:,.0f} events/s on one core ({platform.processor() or platform.machine()})"
    )
    print(
        json.dumps(
            {
                "bench": "engine_hot_path",
                "events": args.events,
                "customers": args.customers,
                "seconds": round(elapsed, 3),
                "events_per_second": round(rate),
            }
        )
    )


if __name__ == "__main__":
    main()
