"""The shadow run: a candidate version decides the same events on the same state as the
live one, and each withdrawal either verdict touches is compared.

For one customer's events of a batch, the shadow starts from the customer's state as the
live version left it before the batch (a copy: the live state is never touched) and
applies the events in order with its own engine. Within the batch it sees its own
decisions; across batches it starts again from the live state. What it makes (holds,
alerts, observations) is dropped: only the comparisons leave, on `shadow-decisions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from withdrawguard.engine.decide import Engine
from withdrawguard.engine.events import CustomerEvent
from withdrawguard.engine.outputs import Outcome, Verdict
from withdrawguard.engine.state import CustomerState, WithdrawalRec
from withdrawguard.engine.timeutil import iso

AGREE, WOULD_HOLD, WOULD_ALLOW = "agree", "would_hold", "would_allow"
SCORE_ONLY = "SCORE_ONLY"


@dataclass(frozen=True, slots=True)
class Side:
    version: str
    decision: str
    risk_score: int
    reasons: tuple[str, ...]

    @classmethod
    def of_verdict(cls, v: Verdict, version: str) -> Side:
        return cls(version, v.decision, int(v.payload["risk_score"]), v.reason_codes)

    @classmethod
    def of_record(cls, r: WithdrawalRec, version: str) -> Side:
        return cls(version, r.decision, r.risk_score, tuple(c for c, _, _ in r.reasons))

    def to_wire(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "decision": self.decision,
            "risk_score": self.risk_score,
            "reason_codes": list(self.reasons),
        }


@dataclass(frozen=True, slots=True)
class Comparison:
    customer_id: str
    withdrawal_id: str
    event_id: str
    decided_at: int
    live: Side
    shadow: Side

    @property
    def outcome(self) -> str:
        if self.live.decision == self.shadow.decision:
            return AGREE
        return WOULD_HOLD if self.shadow.decision == "hold" else WOULD_ALLOW

    @property
    def holding_reasons(self) -> tuple[str, ...]:
        """The reason codes of the side that holds, in a disagreement (`SCORE_ONLY` when
        it holds on its score threshold alone, with no rule's finding)."""
        outcome = self.outcome
        if outcome == AGREE:
            return ()
        codes = self.shadow.reasons if outcome == WOULD_HOLD else self.live.reasons
        return codes or (SCORE_ONLY,)

    def to_wire(self) -> dict[str, Any]:
        return {
            "withdrawal_id": self.withdrawal_id,
            "customer_id": self.customer_id,
            "event_id": self.event_id,
            "outcome": self.outcome,
            "decided_at": iso(self.decided_at),
            "live": self.live.to_wire(),
            "shadow": self.shadow.to_wire(),
        }


def compare(
    shadow: Engine,
    live_version: str,
    before: CustomerState,
    applied: Sequence[tuple[CustomerEvent, Outcome]],
) -> list[Comparison]:
    """Run `shadow` over the live run's events (`applied`: each event with the live
    outcome it had), starting from `before` (a copy of the state the live run started
    from; it is changed here), and compare every withdrawal either side gave a verdict on."""
    state = before
    live_now = {wid: Side.of_record(r, live_version) for wid, r in state.withdrawals.items()}
    found: list[Comparison] = []
    for event, live_out in applied:
        shadow_out = shadow.apply(state, event)
        if live_out.duplicate and shadow_out.duplicate:
            continue
        touched: dict[str, None] = {}
        for v in live_out.verdicts:
            live_now[v.withdrawal_id] = Side.of_verdict(v, live_version)
            touched[v.withdrawal_id] = None
        shadow_now = {
            v.withdrawal_id: Side.of_verdict(v, shadow.version) for v in shadow_out.verdicts
        }
        touched.update(dict.fromkeys(shadow_now))
        for wid in touched:
            live_side = live_now.get(wid)
            shadow_side = shadow_now.get(wid)
            if shadow_side is None:
                rec = state.withdrawals.get(wid)
                shadow_side = Side.of_record(rec, shadow.version) if rec is not None else None
            if live_side is None or shadow_side is None:
                continue  # one side has never seen it (a repeat the other dropped)
            at = state.withdrawals[wid].decided_at if wid in state.withdrawals else 0
            found.append(
                Comparison(state.customer_id, wid, event.event_id, at, live_side, shadow_side)
            )
    return found
