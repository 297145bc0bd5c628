"""Rules about what the customer holds: most of it sold soon after the first steps of a
takeover (a destination or credential change, a login from a new device)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from withdrawguard.engine.events import CREDENTIAL_CHANGES
from withdrawguard.engine.policy import HOUR
from withdrawguard.engine.rules.base import Finding, Subject, hours
from withdrawguard.engine.state import CustomerState, TradeRec


@dataclass(frozen=True, slots=True)
class SellOff:
    """Sells of one currency after a trigger that reach the policy's share of holdings."""

    trigger_id: str
    trigger: str
    """The trigger as people read it: 'the web withdrawal destination change'."""
    trigger_ts: int
    sells: tuple[str, ...]
    sold: Decimal
    share: Decimal
    currency: str
    last_ts: int

    def describe(self) -> str:
        return (
            f"{self.share:.0%} of the holdings ({self.sold} {self.currency}) sold within "
            f"{hours(self.last_ts - self.trigger_ts)} after {self.trigger}"
        )


def triggers(state: CustomerState, until: int) -> list[tuple[int, str, str]]:
    """(time, event id, what) of the events a sell-off may follow, oldest first: a
    withdrawal destination or credential change, and the login that first showed a
    device (read from the devices the state remembers, so logins need not be kept as
    long as a sell-off can take). Not a change the customer confirmed through the contact
    its notice named, nor a destination change whose destination was verified at or
    after it (as DEST_CHANGED_RECENTLY does, whenever the verification came)."""
    confirmed = {n.event_id for n in state.notices.values() if n.counted}
    found = [
        (c.ts, eid, f"the {c.channel} {c.change_type.replace('_', ' ')} change")
        for eid, c in state.changes.items()
        if c.ts <= until
        and (c.change_type == "withdrawal_destination" or c.change_type in CREDENTIAL_CHANGES)
        and eid not in confirmed
        and not (c.dest is not None and c.ts <= state.verified_dest.get(c.dest, [-1])[0])
    ]
    found += [
        (seen.first, seen.event_id, f"the first login from device {device}")
        for device, seen in state.devices.items()
        if seen.first <= until
    ]
    return sorted(found)


class Liquidation:
    """Sells of at least `share` of the customer's holdings within `window_hours` after a
    trigger (see `triggers`), and the withdrawal within `withdraw_hours` of the last of
    them. The share is what the sells raised over that plus the holdings' value after the
    last one (`holdings_value_after`; without it a sell-off cannot be measured)."""

    code = "LIQUIDATION"

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.weight = int(cfg["weight"])
        self.holding = bool(cfg["holding"])
        self.severity = str(cfg["severity"])
        self.share = Decimal(cfg["share"])
        self.window = int(cfg["window_hours"]) * HOUR
        self.withdraw = int(cfg["withdraw_hours"]) * HOUR

    def find(
        self,
        state: CustomerState,
        until: int,
        currency: str | None,
        skip: Collection[str] = (),
    ) -> SellOff | None:
        """The first sell-off complete by `until` (in `currency`, or any), of a trigger
        not in `skip`."""
        sells = sorted(
            (t.ts, eid, t)
            for eid, t in state.trades.items()
            if t.side == "sell" and t.ts <= until and currency in (None, t.currency)
        )
        if not sells:
            return None
        for trigger_ts, trigger_id, what in triggers(state, until):
            if trigger_id in skip:
                continue
            by_currency: dict[str, list[tuple[int, str, TradeRec]]] = {}
            for ts, eid, t in sells:
                if trigger_ts <= ts <= trigger_ts + self.window:
                    by_currency.setdefault(t.currency, []).append((ts, eid, t))
            for cur, chosen in sorted(by_currency.items()):
                after = chosen[-1][2].holdings_after
                if after is None:
                    continue
                sold = sum((Decimal(t.proceeds) for _, _, t in chosen), Decimal(0))
                share = sold / (sold + Decimal(after))
                if share >= self.share:
                    ids = tuple(eid for _, eid, _ in chosen)
                    last = chosen[-1][0]
                    return SellOff(trigger_id, what, trigger_ts, ids, sold, share, cur, last)
        return None

    def __call__(self, s: Subject) -> Finding | None:
        w = s.w
        found = self.find(s.state, w.ts, w.currency)
        if found is None or w.ts - found.last_ts > self.withdraw:
            return None
        return Finding(
            self.code,
            f"{found.describe()}; the withdrawal {hours(w.ts - found.last_ts)} later",
            self.weight,
            holding=self.holding,
            severity=self.severity,
            evidence=(found.trigger_id, *found.sells),
        )
