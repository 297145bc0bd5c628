"""Ground truth: one label per withdrawal, and one per malformed message.

A withdrawal's label says whether it is honest or the attacker's (with the playbook,
attack and campaign), and which honest changes of habit preceded it: for each of
`destination_change`, `credential_change` and `new_device`, the hours since the latest
one (null: none), and whether that is within `RECENT` (10 days, as long as the longest
look-back of the default policy's rules: `liquidation.window_hours` for the sells after
a change plus `withdraw_hours` for the withdrawal after them; `new_device.new_for_days`
and a credential change 24 h before a destination change 72 h before the withdrawal are
within it). `sold_holdings`: the attack sold most of the victim's holdings before this
withdrawal (`Attack.trade_ids`), or the honest customer sold most of theirs within
`RECENT` before it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from withdrawguard.sim import scenarios as s
from withdrawguard.sim.playbooks import Attack
from withdrawguard.sim.population import (
    CREDENTIAL_CHANGE,
    DESTINATION_CHANGE,
    NEW_DEVICE,
    SELL_OFF,
    Habit,
)

RECENT = timedelta(days=10)
HABITS = (DESTINATION_CHANGE, CREDENTIAL_CHANGE, NEW_DEVICE)


def withdrawal_labels(
    events: Iterable[tuple[datetime, s.Message]], attacks: list[Attack], habits: list[Habit]
) -> list[dict[str, Any]]:
    """A label per withdrawal in `events`, in their order."""
    by_wid = {wid: a for a in attacks for wid in a.withdrawal_ids}
    history: dict[str, list[Habit]] = defaultdict(list)
    for h in sorted(habits, key=lambda h: h.at):
        history[h.customer_id].append(h)
    out = []
    for at, (topic, body) in events:
        if topic != "withdrawals":
            continue
        a = by_wid.get(body["withdrawal_id"])
        since: dict[str, float | None] = dict.fromkeys((*HABITS, SELL_OFF))
        for h in history.get(body["customer_id"], ()):
            if h.at <= at:
                since[h.kind] = round((at - h.at).total_seconds() / 3600, 2)
        sold = since.pop(SELL_OFF)
        out.append(
            {
                "record": "withdrawal",
                "withdrawal_id": body["withdrawal_id"],
                "customer_id": body["customer_id"],
                "occurred_at": body["occurred_at"],
                "amount": body["amount"],
                "truth": "honest" if a is None else "attack",
                "playbook": None if a is None else a.playbook,
                "attack_id": None if a is None else a.attack_id,
                "campaign": None if a is None else a.campaign,
                "sold_holdings": bool(a.trade_ids)
                if a is not None
                else sold is not None and sold <= RECENT.total_seconds() / 3600,
                "preceded_by": {
                    k: v is not None and v <= RECENT.total_seconds() / 3600
                    for k, v in since.items()
                },
                "hours_since": since,
            }
        )
    return out
