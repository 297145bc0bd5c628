"""Evidence as people read it: an event held in a customer's state (in the rules'
collections, or kept for an open hold past their windows), account numbers masked to
their last four characters."""

from __future__ import annotations

from itertools import chain
from typing import Any

from withdrawguard.engine.events import mask_key
from withdrawguard.engine.state import CustomerState
from withdrawguard.engine.timeutil import iso


def describe(state: CustomerState, event_id: str) -> dict[str, Any] | None:
    """An evidence event as people read it, account numbers masked; None if not held."""
    kept = state.kept
    if (login := state.logins_ok.get(event_id) or kept.logins_ok.get(event_id)) is not None:
        return {
            "event_id": event_id,
            "type": "login",
            "occurred_at": iso(login.ts),
            "success": True,
            "ip": login.ip,
            "device_id": login.device,
        }
    failed = state.logins_failed.get(event_id, kept.logins_failed.get(event_id))
    if failed is not None:
        return {"event_id": event_id, "type": "login", "occurred_at": iso(failed), "success": False}
    if (c := state.changes.get(event_id) or kept.changes.get(event_id)) is not None:
        d: dict[str, Any] = {
            "event_id": event_id,
            "type": "account_change",
            "occurred_at": iso(c.ts),
            "change_type": c.change_type,
            "channel": c.channel,
            "ip": c.ip,
            "device_id": c.device,
            "verified": c.verified,
        }
        if c.dest is not None:
            d["destination"] = mask_key(c.dest)
        return d
    if (x := state.trades.get(event_id) or kept.trades.get(event_id)) is not None:
        return {
            "event_id": event_id,
            "type": "trade",
            "occurred_at": iso(x.ts),
            "side": x.side,
            "proceeds": x.proceeds,
            "currency": x.currency,
            "holdings_value_after": x.holdings_after,
            "channel": x.channel,
            "ip": x.ip,
            "device_id": x.device,
        }
    for wid, w in chain(state.withdrawals.items(), kept.withdrawals.items()):
        if w.event_id == event_id:
            return {
                "event_id": event_id,
                "type": "withdrawal",
                "occurred_at": iso(w.ts),
                "withdrawal_id": wid,
                "amount": w.amount,
                "currency": w.currency,
                "destination": mask_key(w.dest),
            }
    return None
