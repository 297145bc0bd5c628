"""Links: the other customers who share a destination, a source IP or a device with a
customer, within the rules' windows (docs/cases.md, "Links"). Pure: the touches come in
(from the detector's observations), the links go out; "now" is passed in.

A *touch* is one customer meeting one value at one event time: setting or withdrawing to
a destination, a login attempt (successful or not) from an IP, or from a device. What is
kept of them, per value, is one *slot* per customer and window-long stretch of event
time (`slot = ts // window`), with the latest touch in it: a bounded, order-free
summary (a slot only ever moves to a later touch), which is what lets the Redis
projection be written twice, in any order, or rebuilt, and come out the same.

Two customers are linked on a value when a slot of each lies within the value's window
of the other, measured from the slot's start to its latest touch. So every two
customers who touched it within the window of each other are linked, and none whose
touches were all twice the window apart or more (the price of keeping slots, not
every touch). Destinations are kept and shown by their masked form and a digest of
their identity, never the account number.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from withdrawguard.engine.events import mask_key
from withdrawguard.engine.outputs import DestinationObservation, IpObservation
from withdrawguard.engine.policy import DAY, MINUTE, Policy
from withdrawguard.engine.timeutil import digest

KINDS = ("destination", "ip", "device")
MAX_SLOTS_PER_VALUE = 1000
"""Slots kept per value, the newest (as the destination stage keeps 1000 setters): a
mule account shared by thousands, or a carrier's NAT address, costs bounded memory."""
MAX_VALUES_PER_CUSTOMER = 500
"""Values kept per customer, the most recently touched."""
MAX_LINKS = 200
"""Most links listed for one customer (the most recently seen first)."""


@dataclass(frozen=True, slots=True)
class LinkWindows:
    """How close in event time two customers' touches of a value must be, per kind, in ms."""

    destination: int
    ip: int
    device: int

    @classmethod
    def of(cls, policy: Policy, device: timedelta) -> LinkWindows:
        """The rules' windows (`destination_shared.window_days`,
        `source_ip_shared.window_minutes`) and the case policy's device window."""
        return cls(
            destination=int(policy.rule("destination_shared")["window_days"]) * DAY,
            ip=int(policy.rule("source_ip_shared")["window_minutes"]) * MINUTE,
            device=int(device.total_seconds() * 1000),
        )

    def of_kind(self, kind: str) -> int:
        # A window of 0 (a rule set so) would make slots of zero width: one ms instead.
        return max(1, int(getattr(self, kind)))

    @property
    def lookback(self) -> int:
        """How far back links are looked for, and kept: the longest window."""
        return max(self.destination, self.ip, self.device, 1)


@dataclass(frozen=True, slots=True)
class Value:
    """A linkable value: its kind, its identity as kept, and how it is shown."""

    kind: str
    key: str
    """The IP, the device id, or a digest of the destination's identity."""
    shown: str
    """The IP, the device id, or the masked destination (`bank 0005 ... acct ****4567`)."""

    def encode(self) -> str:
        return orjson.dumps([self.kind, self.key, self.shown]).decode()

    @classmethod
    def decode(cls, raw: str | bytes) -> Value:
        kind, key, shown = orjson.loads(raw)
        return cls(str(kind), str(key), str(shown))


@dataclass(frozen=True, slots=True)
class Touch:
    value: Value
    customer_id: str
    ts: int


@dataclass(frozen=True, slots=True)
class Slot:
    """A customer's touches of a value in one window-long stretch: where the stretch
    starts (`index * width`) and the latest touch in it."""

    customer_id: str
    width: int
    index: int
    last: int

    def member(self) -> str:
        """As kept in the value's sorted set (scored by `last`)."""
        return f"{self.width}:{self.index}:{self.customer_id}"

    @classmethod
    def of_member(cls, member: str | bytes, last: float) -> Slot:
        text = member.decode() if isinstance(member, bytes) else member
        width, index, customer = text.split(":", 2)
        return cls(customer, int(width), int(index), int(last))

    @property
    def start(self) -> int:
        return self.index * self.width


def slot_of(touch: Touch, windows: LinkWindows) -> Slot:
    width = windows.of_kind(touch.value.kind)
    return Slot(touch.customer_id, width, touch.ts // width, touch.ts)


def destination_value(destination_key: str) -> Value:
    key = digest("link-destination", destination_key)
    return Value("destination", key, mask_key(destination_key))


def touches_of(observation: DestinationObservation | IpObservation) -> list[Touch]:
    """What one observation says about links: a destination set or used; an IP, and the
    device when the login named one. A fraud confirmation touches nothing."""
    if isinstance(observation, DestinationObservation):
        if observation.kind not in ("set", "used"):
            return []
        value = destination_value(observation.destination_key)
        return [Touch(value, observation.customer_id, observation.ts)]
    who, ts = observation.customer_id, observation.ts
    found = [Touch(Value("ip", observation.ip, observation.ip), who, ts)]
    if observation.device is not None:
        found.append(Touch(Value("device", observation.device, observation.device), who, ts))
    return found


@dataclass(frozen=True, slots=True)
class Link:
    """Another customer sharing a value with the customer asked about."""

    kind: str
    shown: str
    customer_id: str
    last_seen: datetime
    """That customer's latest touch of the value (up to now, within the lookback)."""
    case_id: str | None = None
    """That customer's current case: the open one, else the latest; None: no case."""
    case_status: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "value": self.shown,
            "customer_id": self.customer_id,
            "last_seen": self.last_seen.isoformat().replace("+00:00", "Z"),
            "case_id": self.case_id,
            "case_status": self.case_status,
        }


def links_of(
    customer_id: str,
    now_ms: int,
    windows: LinkWindows,
    seen: Iterable[tuple[Value, Sequence[Slot]]],
) -> list[Link]:
    """The customer's links at `now_ms`, from the slots kept of each value the customer
    touched: newest first, at most MAX_LINKS. Slots after `now_ms` or before the
    lookback are left out."""
    since = now_ms - windows.lookback
    found: list[Link] = []
    for value, slots in seen:
        window = windows.of_kind(value.kind)
        live = [s for s in slots if since <= s.last <= now_ms]
        mine = [s for s in live if s.customer_id == customer_id]
        linked = {
            s.customer_id
            for s in live
            if s.customer_id != customer_id and any(_near(s, m, window) for m in mine)
        }
        latest: dict[str, int] = {}
        for s in live:
            if s.customer_id in linked:
                latest[s.customer_id] = max(latest.get(s.customer_id, s.last), s.last)
        found.extend(
            Link(value.kind, value.shown, other, datetime.fromtimestamp(last / 1000, UTC))
            for other, last in latest.items()
        )
    found.sort(key=_newest_first)
    return found[:MAX_LINKS]


def _newest_first(x: Link) -> tuple[float, int, str, str]:
    return (-x.last_seen.timestamp(), KINDS.index(x.kind), x.shown, x.customer_id)


def _near(a: Slot, b: Slot, window: int) -> bool:
    """Whether the stretches [start, last] of two slots are within `window` of each other."""
    gap = max(a.start - b.last, b.start - a.last, 0)
    return gap <= window


def with_cases(links: Sequence[Link], cases: Mapping[str, tuple[str, str]]) -> list[Link]:
    """The links with each other customer's current case (customer -> (case id, status));
    a customer not in `cases` has none."""
    return [
        replace(x, case_id=found[0], case_status=found[1])
        if (found := cases.get(x.customer_id)) is not None
        else x
        for x in links
    ]
