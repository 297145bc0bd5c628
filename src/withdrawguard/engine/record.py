"""Recording what a customer did and what other customers' events say about them: logins,
account changes and cross-customer notices go into the state here, each at most once
(a repeat returns False). No verdicts here: `decide.Engine` re-assesses afterwards.
"""

from __future__ import annotations

import functools
import ipaddress

from withdrawguard.engine.events import (
    ONLINE_CHANNELS,
    AccountChange,
    CustomerEvent,
    DestinationFraud,
    DestinationShared,
    DeviceFlagged,
    IpFlagged,
    Login,
)
from withdrawguard.engine.outputs import (
    DestinationObservation,
    DeviceObservation,
    IpObservation,
    Outcome,
)
from withdrawguard.engine.state import (
    ChangeRec,
    CustomerState,
    FlagRec,
    LoginRec,
    SharedRec,
    Sighting,
)
from withdrawguard.engine.timeutil import to_ms


def record_login(state: CustomerState, e: Login, ts: int, out: Outcome, net: str | None) -> bool:
    """A login, once: its IP and device observed, a success's device and network sighted."""
    if e.event_id in state.logins_ok or e.event_id in state.logins_failed:
        return False
    out.ips.append(IpObservation(e.ip, e.customer_id, ts, e.event_id, e.success, e.device_id))
    if e.device_id is not None:
        out.devices.append(
            DeviceObservation(e.device_id, e.customer_id, ts, e.event_id, e.success, "login")
        )
    if not e.success:
        state.logins_failed[e.event_id] = ts
        return True
    assert net is not None
    state.logins_ok[e.event_id] = LoginRec(ts, e.ip, e.device_id, net)
    if e.device_id is not None:
        sighting(state.devices, e.device_id, ts, e.event_id)
    sighting(state.networks, net, ts, e.event_id)
    return True


def record_change(
    state: CustomerState, e: AccountChange, ts: int, out: Outcome, net: str | None
) -> bool:
    """An account change, once: a new destination observed, an online change's device."""
    if e.event_id in state.changes:
        return False
    dest = e.destination.key if e.destination is not None else None
    state.changes[e.event_id] = ChangeRec(
        ts, e.change_type, e.channel, e.ip, e.device_id, net, e.verified, dest
    )
    if e.change_type == "withdrawal_destination" and dest is not None:
        out.destinations.append(DestinationObservation("set", dest, e.customer_id, ts, e.event_id))
    # Online changes only: a call center's or branch's device id names the firm's own
    # terminal, which serves many customers by design (docs/policy.md, DEVICE_SHARED).
    if e.device_id is not None and e.channel in ONLINE_CHANNELS:
        out.devices.append(
            DeviceObservation(e.device_id, e.customer_id, ts, e.event_id, True, "change")
        )
    return True


def record_notice(state: CustomerState, e: CustomerEvent, ts: int) -> bool:
    """A cross-customer notice, once: what it says kept for the rules."""
    if e.event_id in state.seen:
        return False
    state.seen[e.event_id] = ts
    if isinstance(e, DestinationShared):
        known = state.shared.get(e.destination_key)
        customers = set(e.customers) | set(known.customers if known else ())
        evidence = dict.fromkeys([*(known.evidence if known else ()), *e.evidence_event_ids])
        state.shared[e.destination_key] = SharedRec(
            min(ts, known.first_ts) if known else ts, sorted(customers), list(evidence)
        )
    elif isinstance(e, DestinationFraud):
        prior = state.fraud_dest.get(e.destination_key)
        if prior is None or (ts, e.decision_id) < (prior[0], prior[1]):
            state.fraud_dest[e.destination_key] = [ts, e.decision_id]
    elif isinstance(e, IpFlagged | DeviceFlagged):
        wave = FlagRec(
            to_ms(e.window_start),
            to_ms(e.window_end),
            list(e.customers),
            list(e.evidence_event_ids),
        )
        if isinstance(e, IpFlagged):
            state.flagged_ips.setdefault(e.ip, {})[e.event_id] = wave
        else:
            state.flagged_devices.setdefault(e.device, {})[e.event_id] = wave
    return True


@functools.lru_cache(maxsize=65_536)
def network(ip: str, v4_prefix: int, v6_prefix: int) -> str:
    """The network an address belongs to (/24 and /64 by default). Cached: the same
    addresses come back all the time."""
    addr: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped  # ::ffff:a.b.c.d is the IPv4 client a.b.c.d
    prefix = v4_prefix if addr.version == 4 else v6_prefix
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


def sighting(table: dict[str, Sighting], key: str, ts: int, event_id: str) -> None:
    """`key` seen at `ts` by `event_id`: its first and last sighting kept."""
    seen = table.get(key)
    if seen is None:
        table[key] = Sighting(ts, ts, event_id)
        return
    if (ts, event_id) < (seen.first, seen.event_id):
        seen.first, seen.event_id = ts, event_id
    seen.last = max(seen.last, ts)
