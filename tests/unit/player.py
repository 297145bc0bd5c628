"""Plays wire messages through the engine as the streaming worker would."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from withdrawguard.contract.topics import INPUT_EVENT_TYPES
from withdrawguard.engine.crossref import CrossReference, DestinationState, DeviceState, IpState
from withdrawguard.engine.decide import Engine
from withdrawguard.engine.decode import decode_object
from withdrawguard.engine.events import CustomerEvent
from withdrawguard.engine.outputs import Alert, CustomerNotice, HoldUpdate, Verdict
from withdrawguard.engine.state import CustomerState, decode_state, encode_state


@dataclass
class Player:
    """Plays wire messages through the engine and the cross-customer stages, with the
    state encoded and decoded between events exactly as the table stores it."""

    engine: Engine
    crossref: CrossReference
    states: dict[str, bytes] = field(default_factory=dict)
    dests: dict[str, DestinationState] = field(default_factory=dict)
    ips: dict[str, IpState] = field(default_factory=dict)
    devices: dict[str, DeviceState] = field(default_factory=dict)
    verdicts: list[Verdict] = field(default_factory=list)
    holds: list[HoldUpdate] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    notices: list[CustomerNotice] = field(default_factory=list)

    def play(self, messages: Iterable[tuple[str, dict[str, Any]]]) -> Player:
        for topic, payload in messages:
            self.event(decode_object(payload, INPUT_EVENT_TYPES[topic]))
        return self

    def event(self, event: CustomerEvent) -> None:
        queue = [event]
        while queue:
            ev = queue.pop(0)
            raw = self.states.get(ev.customer_id)
            state = decode_state(raw) if raw else CustomerState(ev.customer_id)
            out = self.engine.apply(state, ev)
            self.states[ev.customer_id] = encode_state(state)
            self.verdicts += out.verdicts
            self.holds += out.holds
            self.alerts += out.alerts
            self.notices += out.notices
            for d in out.destinations:
                st = self.dests.setdefault(d.destination_key, DestinationState())
                queue += self.crossref.destination(st, d)
            for i in out.ips:
                ist = self.ips.setdefault(i.ip, IpState())
                queue += self.crossref.ip(ist, i)
            for o in out.devices:
                dst = self.devices.setdefault(o.device, DeviceState())
                queue += self.crossref.device(dst, o)

    def state(self, customer_id: str) -> CustomerState:
        return decode_state(self.states[customer_id])

    def latest(self, withdrawal_id: str) -> Verdict:
        return [v for v in self.verdicts if v.withdrawal_id == withdrawal_id][-1]

    def hold(self, withdrawal_id: str) -> HoldUpdate:
        return [h for h in self.holds if h.withdrawal_id == withdrawal_id][-1]
