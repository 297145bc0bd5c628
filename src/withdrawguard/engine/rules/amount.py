"""Rules about how much and how often."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from withdrawguard.engine.policy import DAY, HOUR
from withdrawguard.engine.rules.base import Finding, Subject


class Drain:
    """The amount is at least `balance_ratio` of the available balance, or at least
    `history_multiple` times the largest withdrawal of the last `history_days`."""

    code = "DRAIN"

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.weight = int(cfg["weight"])
        self.ratio = Decimal(cfg["balance_ratio"])
        self.multiple = Decimal(cfg["history_multiple"])
        self.history = int(cfg["history_days"]) * DAY

    def __call__(self, s: Subject) -> Finding | None:
        w = s.w
        amount = Decimal(w.amount)
        if w.balance is not None:
            balance = Decimal(w.balance)
            if balance == 0 or amount >= self.ratio * balance:
                share = "more than" if balance == 0 else f"{amount / balance:.0%} of"
                return Finding(
                    self.code,
                    f"withdrawal is {share} the available balance",
                    self.weight,
                    evidence=(w.event_id,),
                )
        me = (w.ts, s.withdrawal_id)
        past = [
            (Decimal(v.amount), v.event_id)
            for wid, v in s.state.withdrawals.items()
            if v.currency == w.currency and (v.ts, wid) < me and w.ts - v.ts <= self.history
        ]
        if past:
            largest, eid = max(past)
            if amount >= self.multiple * largest:
                return Finding(
                    self.code,
                    f"withdrawal is {amount / largest:.1f}x the largest of the last "
                    f"{self.history // DAY} days ({largest} {w.currency})",
                    self.weight,
                    evidence=(w.event_id, eid),
                )
        return None


class WithdrawalBurst:
    """The withdrawal is at least the `min_withdrawals`-th within `window_hours` after a
    destination change."""

    code = "WITHDRAWAL_BURST"

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.weight = int(cfg["weight"])
        self.min = int(cfg["min_withdrawals"])
        self.window = int(cfg["window_hours"]) * HOUR

    def __call__(self, s: Subject) -> Finding | None:
        w = s.w
        me = (w.ts, s.withdrawal_id)
        for eid, c in sorted(s.state.changes.items(), key=lambda kv: (kv[1].ts, kv[0])):
            if c.change_type != "withdrawal_destination" or not c.ts <= w.ts <= c.ts + self.window:
                continue
            burst = sorted(
                (v.ts, wid, v.event_id)
                for wid, v in s.state.withdrawals.items()
                if c.ts <= v.ts and (v.ts, wid) <= me
            )
            if len(burst) >= self.min:
                return Finding(
                    self.code,
                    f"withdrawal {len(burst)} within {self.window // HOUR} h after a "
                    "destination change",
                    self.weight,
                    evidence=(eid, *(e for _, _, e in burst)),
                )
        return None
