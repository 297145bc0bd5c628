"""Trades: recorded once each, and the early alert a sell-off raises before any
withdrawal of its proceeds exists (a `fraud-alerts` record of kind `liquidation`)."""

from __future__ import annotations

from withdrawguard.engine.events import Trade
from withdrawguard.engine.evidence import describe
from withdrawguard.engine.outputs import Alert, Outcome
from withdrawguard.engine.rules.base import hours
from withdrawguard.engine.rules.holdings import Liquidation
from withdrawguard.engine.state import CustomerState, TradeRec
from withdrawguard.engine.timeutil import digest

LIQUIDATION_ALERT = "liquidation"
"""The `kind` of the alert a sell-off raises by itself."""


def record_trade(state: CustomerState, e: Trade, ts: int) -> bool:
    """A trade, once."""
    if e.event_id in state.trades:
        return False
    after = None if e.holdings_value_after is None else str(e.holdings_value_after)
    state.trades[e.event_id] = TradeRec(
        ts, e.side, str(e.proceeds), e.currency, after, e.channel, e.ip, e.device_id
    )
    return True


def sell_off_alert(rule: Liquidation, state: CustomerState, ts: int, out: Outcome) -> None:
    """Alert once per sell-off complete by `ts`, when the event that completes it arrives
    (the last sell, or a trigger that arrived after the sells): the money is still in the
    account, so a case can be opened before it is asked for."""
    found = rule.find(state, ts, None, skip=state.sell_offs)
    if found is None:
        return
    state.sell_offs[found.trigger_id] = ts
    cid = state.customer_id
    then = f"; a withdrawal within {hours(rule.withdraw)} is held" if rule.holding else ""
    out.alerts.append(
        Alert(
            alert_id=digest(cid, LIQUIDATION_ALERT, found.trigger_id),
            customer_id=cid,
            severity=rule.severity,
            risk_score=rule.weight,
            rule_codes=(rule.code,),
            summary=f"Customer {cid}: {found.describe()}{then}.",
            evidence=tuple(
                d for eid in (found.trigger_id, *found.sells) if (d := describe(state, eid))
            ),
            withdrawal_id=None,
            created_at=found.last_ts,
            kind=LIQUIDATION_ALERT,
        )
    )
