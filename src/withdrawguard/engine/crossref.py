"""Cross-customer evidence: what one destination, one source IP or one device has seen
across customers, and the notices that tell each involved customer.

Pure like the rest of the engine. The streaming worker keeps one `DestinationState`
per destination, one `IpState` per source IP and one `DeviceState` per device id in
tables keyed by them (so the work is partitioned, never a scan); the history scan keeps
them in memory. IPs and devices are counted the same way (`Waves`, `_wave`).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

import orjson

from withdrawguard.engine.events import (
    DestinationFraud,
    DestinationShared,
    DeviceFlagged,
    IpFlagged,
    Notice,
)
from withdrawguard.engine.outputs import DestinationObservation, DeviceObservation, IpObservation
from withdrawguard.engine.policy import DAY, HOUR, MINUTE, Policy
from withdrawguard.engine.timeutil import digest, from_ms

# A group larger than this only tells newcomers, not every member again (a mule
# receiving from hundreds of victims must not cost hundreds squared messages).
BROADCAST_LIMIT = 20
MAX_SETTERS = 1000
MAX_ATTEMPTS = 5000


@dataclass(slots=True)
class DestinationState:
    setters: dict[str, list[list[Any]]] = field(default_factory=dict)
    """customer -> [[ts, event_id], ...] of the changes that set this destination."""
    users: dict[str, int] = field(default_factory=dict)
    """customer -> latest withdrawal time to this destination."""
    group: list[str] = field(default_factory=list)
    """Customers known to share it (sorted)."""
    fraud: list[Any] | None = None
    """[ts, decision_id] of the earliest fraud confirmation."""
    horizon: int = 0


@dataclass(slots=True)
class WaveState:
    """What one source IP (or one device) was seen on across customers, and whom each
    wave was told to."""

    attempts: dict[str, list[Any]] = field(default_factory=dict)
    """event_id -> [customer, ts]."""
    notified: dict[str, list[list[int]]] = field(default_factory=dict)
    """customer -> [[start, end], ...] of the waves they were told about."""
    horizon: int = 0


IpState = WaveState
DeviceState = WaveState


@dataclass(frozen=True, slots=True)
class Waves:
    """How a stage counts waves: `min_customers` within `window` (ms); failed logins only
    with `count_failed`; attempts kept for `keep` (ms) after the newest."""

    enabled: bool
    min_customers: int
    window: int
    count_failed: bool
    keep: int

    @classmethod
    def of(cls, cfg: dict[str, Any]) -> Waves:
        window = int(cfg["window_minutes"]) * MINUTE
        return cls(
            bool(cfg["enabled"]),
            int(cfg["min_customers"]),
            window,
            bool(cfg["count_failed"]),
            window * 2 + HOUR,
        )


class CrossReference:
    """Folds observations into destination and IP state and derives notices."""

    def __init__(self, policy: Policy) -> None:
        shared = policy.rule("destination_shared")
        self.share_enabled = bool(shared["enabled"])
        self.min_share = int(shared["min_customers"])
        self.share_window = int(shared["window_days"]) * DAY
        self.ips = Waves.of(policy.rule("source_ip_shared"))
        self.devices = Waves.of(policy.rule("device_shared"))
        self.dest_keep = max(policy.longest_window_ms, self.share_window)

    # ------------------------------------------------------------ destinations

    def destination(self, st: DestinationState, obs: DestinationObservation) -> list[Notice]:
        st.horizon = max(st.horizon, obs.ts)
        notices: list[Notice] = []
        who = obs.customer_id
        if obs.kind == "fraud":
            if st.fraud is None or [obs.ts, obs.ref_id] < st.fraud:
                st.fraud = [obs.ts, obs.ref_id]
            everyone = sorted(set(st.setters) | set(st.users) | {who})
            return [self._fraud(obs.destination_key, c, st.fraud) for c in everyone]
        if obs.kind == "used":
            st.users[who] = max(st.users.get(who, obs.ts), obs.ts)
        else:
            sets = st.setters.setdefault(who, [])
            if [obs.ts, obs.ref_id] not in sets:
                sets.append([obs.ts, obs.ref_id])
                sets.sort()
                del sets[:-5]
            notices.extend(self._share(st, obs))
        if st.fraud is not None:
            notices.append(self._fraud(obs.destination_key, who, st.fraud))
        self._prune_destination(st)
        return notices

    def _share(self, st: DestinationState, obs: DestinationObservation) -> list[Notice]:
        if not self.share_enabled:
            return []
        near = {
            c
            for c, sets in st.setters.items()
            if any(abs(ts - obs.ts) <= self.share_window for ts, _ in sets)
        }
        near.add(obs.customer_id)
        if len(near) < self.min_share:
            return []
        before = set(st.group)
        group = sorted(before | near)
        if group == st.group:
            return []
        st.group = group
        evidence = sorted(eid for c in group for ts, eid in st.setters.get(c, []))
        # When sharing became true: the latest of the group's destination changes.
        established = max(ts for c in group for ts, _ in st.setters.get(c, []))
        tell = group if len(group) <= BROADCAST_LIMIT else sorted(set(group) - before)
        notice_id = digest("shared", obs.destination_key, *group)
        return [
            DestinationShared(
                event_id=notice_id,
                customer_id=c,
                occurred_at=from_ms(established),
                destination_key=obs.destination_key,
                customers=tuple(group),
                evidence_event_ids=tuple(evidence[:50]),
            )
            for c in tell
        ]

    @staticmethod
    def _fraud(dest: str, customer: str, fraud: list[Any]) -> DestinationFraud:
        return DestinationFraud(
            event_id=digest("fraud", dest, customer, fraud[1]),
            customer_id=customer,
            occurred_at=from_ms(fraud[0]),
            destination_key=dest,
            decision_id=fraud[1],
        )

    def _prune_destination(self, st: DestinationState) -> None:
        floor = st.horizon - self.dest_keep
        for c in list(st.setters):
            kept = [s for s in st.setters[c] if s[0] >= floor]
            if kept:
                st.setters[c] = kept
            else:
                del st.setters[c]
        st.users = {c: t for c, t in st.users.items() if t >= floor}
        if len(st.setters) > MAX_SETTERS:
            newest = sorted(st.setters.items(), key=lambda kv: kv[1][-1])[-MAX_SETTERS:]
            st.setters = dict(newest)
        if len(st.users) > MAX_SETTERS:
            st.users = dict(sorted(st.users.items(), key=lambda kv: kv[1])[-MAX_SETTERS:])

    # ------------------------------------------------------------ source IPs, devices

    def ip(self, st: IpState, obs: IpObservation) -> list[Notice]:
        waves = self._waves(self.ips, st, obs.customer_id, obs.ts, obs.event_id, obs.success)
        return [IpFlagged(**fields, ip=obs.ip) for fields in _flagged("ip", obs.ip, waves)]

    def device(self, st: DeviceState, obs: DeviceObservation) -> list[Notice]:
        waves = self._waves(self.devices, st, obs.customer_id, obs.ts, obs.event_id, obs.success)
        return [
            DeviceFlagged(**fields, device=obs.device)
            for fields in _flagged("device", obs.device, waves)
        ]

    @staticmethod
    def _waves(
        w: Waves, st: WaveState, customer: str, ts: int, event_id: str, success: bool
    ) -> list[tuple[str, int, int, tuple[str, ...], tuple[str, ...]]]:
        """One attempt folded into an IP's or device's state: (customer, wave start, wave
        end, the wave's customers, its evidence) for each customer to tell of a wave."""
        if not w.enabled or (not success and not w.count_failed):
            return []
        if event_id in st.attempts:
            return []
        st.horizon = max(st.horizon, ts)
        st.attempts[event_id] = [customer, ts]
        floor = st.horizon - w.keep
        st.attempts = {k: v for k, v in st.attempts.items() if v[1] >= floor}
        if len(st.attempts) > MAX_ATTEMPTS:
            # the oldest over the cap go (ties: the first inserted), usually one: not a
            # sort of all of them per attempt on a busy device
            over = len(st.attempts) - MAX_ATTEMPTS
            gone = {k for k, _ in heapq.nsmallest(over, st.attempts.items(), key=_attempt_ts)}
            st.attempts = {k: v for k, v in st.attempts.items() if k not in gone}
        st.notified = {
            c: kept
            for c, spans in st.notified.items()
            if (kept := [x for x in spans if x[1] >= floor])
        }
        wave = _wave(w, st, ts)
        if wave is None:
            return []
        start, end, members = wave
        customers = tuple(sorted({c for c, _, _ in members}))
        evidence = tuple(sorted(eid for _, _, eid in members))[:50]
        told = []
        for c in customers:
            spans = st.notified.setdefault(c, [])
            # Told already about a wave covering this one (give or take one window)?
            if any(s0 <= start and end <= e0 + w.window for s0, e0 in spans):
                continue
            spans.append([start, end])
            del spans[:-20]
            told.append((c, start, end, customers, evidence))
        return told


def _flagged(
    kind: str, source: str, waves: list[tuple[str, int, int, tuple[str, ...], tuple[str, ...]]]
) -> list[dict[str, Any]]:
    """The fields an IP's or a device's notice of each wave has in common (its id names
    the kind, the source, the customer and the wave)."""
    return [
        {
            "event_id": digest(kind, source, c, str(start), str(end)),
            "customer_id": c,
            "occurred_at": from_ms(start),
            "window_start": from_ms(start),
            "window_end": from_ms(end),
            "customers": customers,
            "evidence_event_ids": evidence,
        }
        for c, start, end, customers, evidence in waves
    ]


def _wave(w: Waves, st: WaveState, ts: int) -> tuple[int, int, list[tuple[str, int, str]]] | None:
    """Every window of `w.window` that contains `ts` and reaches `w.min_customers`
    distinct customers, merged into one span: (start, end, its attempts)."""
    low, high = ts - w.window, ts + w.window
    near = [(t, c, eid) for eid, (c, t) in st.attempts.items() if low <= t <= high]
    if len({c for _, c, _ in near}) < w.min_customers:
        return None  # too few customers near `ts` for any window (a busy device of one)
    near.sort()
    counts: dict[str, int] = {}
    qualifying: list[tuple[int, int]] = []  # index ranges [lo, hi] of qualifying windows
    hi = -1
    for lo in range(len(near)):
        if near[lo][0] > ts:
            break
        while hi + 1 < len(near) and near[hi + 1][0] - near[lo][0] <= w.window:
            hi += 1
            c = near[hi][1]
            counts[c] = counts.get(c, 0) + 1
        if near[hi][0] >= ts and len(counts) >= w.min_customers:
            qualifying.append((lo, hi))
        c = near[lo][1]
        counts[c] -= 1
        if not counts[c]:
            del counts[c]
    if not qualifying:
        return None
    first, last = qualifying[0][0], max(h for _, h in qualifying)
    members = [(c, t, e) for t, c, e in near[first : last + 1]]
    return members[0][1], members[-1][1], members


def _attempt_ts(item: tuple[str, list[Any]]) -> Any:
    return item[1][1]


def encode(state: DestinationState | WaveState) -> bytes:
    return orjson.dumps(state)


def decode_destination(raw: bytes) -> DestinationState:
    return DestinationState(**orjson.loads(raw))


def decode_ip(raw: bytes) -> IpState:
    return IpState(**orjson.loads(raw))


def decode_device(raw: bytes) -> DeviceState:
    return DeviceState(**orjson.loads(raw))
