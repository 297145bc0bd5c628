"""Sell-off alerts of a simulation through the pure engine: which customers' sell-off
raised a `liquidation` alert on `fraud-alerts`, and of the attacked ones, which were
alerted before the detector saw the first of the attack's withdrawals.

Each customer's messages go through `Engine.apply` in the order they arrive
(`sim/engine_pass.py`), so "before" is the detector's order, not the events' times: a
sell that arrives after the withdrawal it preceded alerts late. The alert depends on the
customer's own events only, so no cross-customer stage is needed.
"""

from __future__ import annotations

from withdrawguard.engine.holdings import LIQUIDATION_ALERT
from withdrawguard.engine.policy import Policy
from withdrawguard.sim.engine_pass import through_engine
from withdrawguard.sim.generate import Simulation
from withdrawguard.sim.quality import SellOffAlerts


def sell_off_alerts(sim: Simulation, policy: Policy, max_bytes: int) -> SellOffAlerts:
    attack_of = {wid: a.customer_id for a in sim.attacks for wid in a.withdrawal_ids}
    withdrawn: set[str] = set()
    """Attacked customers one of whose attack's withdrawals the engine has seen."""
    alerted: set[str] = set()
    early: set[str] = set()
    for d, out in through_engine(sim.deliveries, policy, max_bytes):
        cid = d.key.decode()
        if any(a.kind == LIQUIDATION_ALERT for a in out.alerts):
            alerted.add(cid)
            if cid not in withdrawn:
                early.add(cid)
        if d.withdrawal_id is not None and d.withdrawal_id in attack_of:
            withdrawn.add(attack_of[d.withdrawal_id])
    attacked = {a.customer_id for a in sim.attacks}
    return SellOffAlerts(frozenset(alerted), frozenset(early & attacked))
