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
`RECENT` before it. `notice_answer`: for an attack's withdrawal, `deny_before` or
`deny_after` when the victim denied a notice of the attack's changes before or after it
(the earliest denial), else `attacker_confirmed` when the attacker confirmed one, else
null; for an honest one, the customer's answer to the notice of the change that set its
destination: `confirm_before` or `confirm_after` (a confirmation that counts),
`confirm_not_counted`, or null.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from withdrawguard.sim import scenarios as s
from withdrawguard.sim.answers import Answer
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
    events: Iterable[tuple[datetime, s.Message]],
    attacks: list[Attack],
    habits: list[Habit],
    answers: Iterable[Answer] = (),
) -> list[dict[str, Any]]:
    """A label per withdrawal in `events`, in their order."""
    events = list(events)
    by_wid = {wid: a for a in attacks for wid in a.withdrawal_ids}
    answered = {x.event_id: x for x in answers}
    set_by = _destination_changes(events)
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
                "notice_answer": _attack_answer(a, answered, at)
                if a is not None
                else _honest_answer(body, set_by, answered, at),
            }
        )
    return out


def _destination_changes(
    events: Iterable[tuple[datetime, s.Message]],
) -> dict[tuple[str, str, str], list[tuple[datetime, str]]]:
    """(customer, bank, account) -> (time, event id) of each change to it, in time order."""
    out: dict[tuple[str, str, str], list[tuple[datetime, str]]] = defaultdict(list)
    for at, (topic, body) in events:
        if topic == "account-changes" and body["change_type"] == "withdrawal_destination":
            d = body["destination"]
            out[body["customer_id"], d["bank_code"], d["account_number"]].append(
                (at, body["event_id"])
            )
    return out


def _attack_answer(a: Attack, answered: dict[str, Answer], at: datetime) -> str | None:
    got = [answered[b["event_id"]] for _, (_, b) in a.events if b.get("event_id") in answered]
    denials = sorted(x.at for x in got if x.answer == "deny")
    if denials:
        return "deny_before" if denials[0] <= at else "deny_after"
    return "attacker_confirmed" if got else None


def _honest_answer(
    body: dict[str, Any],
    set_by: dict[tuple[str, str, str], list[tuple[datetime, str]]],
    answered: dict[str, Answer],
    at: datetime,
) -> str | None:
    d = body["destination"]
    changes = [
        c
        for c in set_by.get((body["customer_id"], d["bank_code"], d["account_number"]), ())
        if c[0] <= at
    ]
    x = answered.get(changes[-1][1]) if changes else None
    if x is None:
        return None
    if not x.counted:
        return "confirm_not_counted"
    return "confirm_before" if x.at <= at else "confirm_after"
