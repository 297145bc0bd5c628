"""Rules about where the money goes."""

from __future__ import annotations

from typing import Any

from withdrawguard.engine.policy import HOUR
from withdrawguard.engine.rules.base import Finding, Subject, hours
from withdrawguard.engine.timeutil import iso


class DestChangedRecently:
    """The destination was set by a change less than `window_hours` before the withdrawal.

    An unverified change through an online channel holds; one through the call center,
    mail or a branch, or flagged verified out of band, only adds weight. A destination
    verified after every change in the window (a `verify_destination` case decision, or
    the customer's confirmation through the contact a notice named) weighs nothing: the
    finding stays, weight 0. That verification asked someone the attacker does not
    control; a change's own `verified` flag (a call-back to a contact that may have just
    changed) did not.
    """

    code = "DEST_CHANGED_RECENTLY"

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.weight = int(cfg["weight"])
        self.window = int(cfg["window_hours"]) * HOUR
        self.holding_channels = frozenset(cfg["holding_channels"])

    def __call__(self, s: Subject) -> Finding | None:
        changes = s.dest_changes
        if not changes:
            return None
        verified_until = s.state.verified_dest.get(s.w.dest, [-1])[0]
        risky = [
            (eid, c)
            for eid, c in changes
            if c.channel in self.holding_channels and not c.verified and c.ts > verified_until
        ]
        _eid, c = (risky or changes)[-1]
        ago = hours(s.w.ts - c.ts)
        since = all(ch.ts <= verified_until for _, ch in changes)  # verified since them all
        if risky:
            detail = f"destination set via {c.channel} {ago} before the withdrawal, not verified"
        else:
            how = "verified" if (c.verified or since) else f"via {c.channel}"
            detail = f"destination set {ago} before the withdrawal ({how})"
        return Finding(
            self.code,
            detail,
            0 if since else self.weight,
            holding=bool(risky),
            evidence=tuple(e for e, _ in changes),
        )


class DestinationShared:
    """Several customers set the same destination within the sharing window: a mule."""

    code = "DESTINATION_SHARED"

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.weight = int(cfg["weight"])
        self.holding = bool(cfg["holding"])
        self.severity = str(cfg["severity"])

    def __call__(self, s: Subject) -> Finding | None:
        shared = s.state.shared.get(s.w.dest)
        if shared is None:
            return None
        others = [c for c in shared.customers if c != s.state.customer_id]
        return Finding(
            self.code,
            f"destination also set by {len(others)} other customer(s): {', '.join(others[:5])}",
            self.weight,
            holding=self.holding,
            severity=self.severity,
            evidence=tuple(shared.evidence),
        )


class ConfirmedFraudDestination:
    """An analyst confirmed fraud on a withdrawal to this destination (any customer)."""

    code = "CONFIRMED_FRAUD_DESTINATION"

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.weight = int(cfg["weight"])
        self.holding = bool(cfg["holding"])
        self.severity = str(cfg["severity"])

    def __call__(self, s: Subject) -> Finding | None:
        fraud = s.state.fraud_dest.get(s.w.dest)
        if fraud is None:
            return None
        by = f"case decision {fraud[1]}"
        denied = [(k, n) for k, n in s.state.notices.items() if n.response_id == fraud[1]]
        if denied:  # a customer's denial (engine/notices.py)
            k, n = denied[0]
            by = f"the customer's denial {fraud[1]} of notice {k}"
            if n.kind == "credential_change":  # the destination was set after that change
                by += f" (the {n.change_type} change of {iso(n.at)}, before it was set)"
        return Finding(
            self.code,
            f"destination confirmed fraudulent by {by}",
            self.weight,
            holding=self.holding,
            severity=self.severity,
            evidence=(fraud[1],),
        )
