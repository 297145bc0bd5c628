"""Sell-off alerts of a simulation through the pure engine: which customers' sell-off
raised a `liquidation` alert on `fraud-alerts`, and of the attacked ones, which were
alerted before the detector saw the first of the attack's withdrawals.

Each customer's messages go through `Engine.apply` in the order they arrive (late,
duplicated and malformed ones included; a malformed one is refused as the worker's
decoder refuses it), so "before" is the detector's order, not the events' times: a sell
that arrives after the withdrawal it preceded alerts late. The alert depends on the
customer's own events only, so no cross-customer stage is needed.
"""

from __future__ import annotations

from withdrawguard.engine.decide import Engine
from withdrawguard.engine.decode import InvalidEvent, decode_input
from withdrawguard.engine.holdings import LIQUIDATION_ALERT
from withdrawguard.engine.policy import Policy
from withdrawguard.engine.state import CustomerState
from withdrawguard.sim.generate import Simulation
from withdrawguard.sim.quality import SellOffAlerts

EVENT_TYPE = {
    "logins": "login",
    "account-changes": "account_change",
    "withdrawals": "withdrawal",
    "trades": "trade",
}


def sell_off_alerts(sim: Simulation, policy: Policy, max_bytes: int) -> SellOffAlerts:
    engine = Engine(policy)
    states: dict[str, CustomerState] = {}
    attack_of = {wid: a.customer_id for a in sim.attacks for wid in a.withdrawal_ids}
    withdrawn: set[str] = set()
    """Attacked customers one of whose attack's withdrawals the engine has seen."""
    alerted: set[str] = set()
    early: set[str] = set()
    for d in sim.deliveries:
        try:
            event = decode_input(d.value, EVENT_TYPE[d.topic], max_bytes)
        except InvalidEvent:
            continue
        cid = event.customer_id
        state = states.get(cid)
        if state is None:
            state = states[cid] = CustomerState(cid)
        out = engine.apply(state, event)
        if any(a.kind == LIQUIDATION_ALERT for a in out.alerts):
            alerted.add(cid)
            if cid not in withdrawn:
                early.add(cid)
        if d.withdrawal_id is not None and d.withdrawal_id in attack_of:
            withdrawn.add(attack_of[d.withdrawal_id])
    attacked = {a.customer_id for a in sim.attacks}
    return SellOffAlerts(frozenset(alerted), frozenset(early & attacked))
