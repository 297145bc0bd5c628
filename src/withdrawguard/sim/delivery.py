"""Delivery effects: what reaches the input topics is not the clean history.

- **Out of order**: a share of messages (`out_of_order`) arrives 30 s to 15 min late, so
  behind later events of the same customer on other topics.
- **Duplicates**: a share (`duplicates`) is sent a second time, 1 s to 10 min later.
- **Malformed**: a share (`malformed`) is followed by a broken copy of itself that the
  decoder must refuse (see `MALFORMED_KINDS`), with its own id `mal-NNNNNN`, which the
  labels list.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from withdrawguard.sim import scenarios as s

MALFORMED_KINDS = ("not_json", "missing_customer_id", "time_without_offset", "bad_ip", "bad_value")
_WITHOUT_IP = tuple(k for k in MALFORMED_KINDS if k != "bad_ip")
"""For a message without an address (a customer's response), an `ip` is an extra field,
which the contract tolerates: not a malformation."""
_BAD_VALUE = {
    "withdrawals": ("amount", "-5000"),
    "logins": ("success", "yes"),
    "account-changes": ("channel", "fax"),
    "case-decisions": ("action", "approve"),
    "trades": ("side", "short"),
    "customer-responses": ("answer", "maybe"),
}


@dataclass(frozen=True, slots=True)
class Rates:
    out_of_order: float = 0.02
    duplicates: float = 0.01
    malformed: float = 0.001

    def check(self) -> None:
        for name in ("out_of_order", "duplicates", "malformed"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"--{name.replace('_', '-')} must be between 0 and 1, got {value}")


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message as it reaches Kafka: when (simulated time), where, the bytes."""

    at: datetime
    topic: str
    key: bytes
    value: bytes
    withdrawal_id: str | None = None
    """Set on withdrawals (and their duplicates): what the demo and benchmark time."""


def deliver(
    rng: random.Random,
    events: list[tuple[datetime, s.Message]],
    rates: Rates,
    first_malformed: int = 0,
) -> tuple[list[Delivery], list[dict[str, Any]]]:
    """The deliveries in arrival order, and a label for each malformed message (numbered
    after `first_malformed`)."""
    out: list[tuple[datetime, int, Delivery]] = []
    malformed: list[dict[str, Any]] = []
    for at, (topic, body) in events:
        arrival = at
        if rng.random() < rates.out_of_order:
            arrival += timedelta(seconds=rng.randrange(30, 900))
        key = body["customer_id"].encode()
        wid = body.get("withdrawal_id") if topic == "withdrawals" else None
        value = orjson.dumps(body)
        out.append((arrival, len(out), Delivery(arrival, topic, key, value, wid)))
        if rng.random() < rates.duplicates:
            again = arrival + timedelta(seconds=rng.randrange(1, 600))
            out.append((again, len(out), Delivery(again, topic, key, value, wid)))
        if rng.random() < rates.malformed:
            kind = rng.choice(_WITHOUT_IP if topic == "customer-responses" else MALFORMED_KINDS)
            mid = f"mal-{first_malformed + len(malformed) + 1:06d}"
            raw = broken(kind, mid, topic, body)
            out.append((arrival, len(out), Delivery(arrival, topic, key, raw)))
            malformed.append(
                {
                    "record": "malformed",
                    "truth": "malformed",
                    "malformed_id": mid,
                    "topic": topic,
                    "kind": kind,
                    "customer_id": body["customer_id"],
                    "raw": raw.decode(),
                }
            )
    out.sort(key=lambda item: (item[0], item[1]))
    return [d for _, _, d in out], malformed


def broken(kind: str, mid: str, topic: str, body: dict[str, Any]) -> bytes:
    """A copy of `body` (renamed `mid`) broken in the way `kind` names."""
    name = "response_id" if topic == "customer-responses" else "event_id"
    copy: dict[str, Any] = {name: mid}
    copy.update((k, v) for k, v in body.items() if k not in (name, "decision_id"))
    if kind == "not_json":
        raw = orjson.dumps(copy)
        return raw[: len(raw) // 2]
    if kind == "missing_customer_id":
        del copy["customer_id"]
    elif kind == "time_without_offset":
        copy["occurred_at"] = (
            datetime.fromisoformat(body["occurred_at"]).replace(tzinfo=None).isoformat()
        )
    elif kind == "bad_ip":
        copy["ip"] = "300.1.2.3"
    elif kind == "bad_value":
        name, value = _BAD_VALUE[topic]
        copy[name] = value
    else:
        raise ValueError(f"unknown kind of malformed message: {kind!r}")
    return orjson.dumps(copy)
