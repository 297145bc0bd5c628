"""The engine: apply one event to a customer's state and say what follows from it.

`Engine(policy).apply(state, event)` mutates `state` (the caller's: the agent decodes a copy
from the table and writes it back) and returns an `Outcome`. Verdicts only go up by
themselves (allow -> hold, with LATE_EVIDENCE when evidence came late); only a case decision
or a customer's confirmation (engine/notices.py) brings one down. A reason a suppression in
force at the withdrawal's time mutes counts for nothing; the verdict names the suppression.
"""

from __future__ import annotations

from typing import Any

from withdrawguard import __version__
from withdrawguard.engine.alert import SEVERITY_RANK, alert_for
from withdrawguard.engine.events import (
    AccountChange,
    CaseDecision,
    CustomerEvent,
    CustomerResponse,
    DestinationFraud,
    Login,
    Notice,
    Trade,
    Withdrawal,
)
from withdrawguard.engine.holdings import record_trade, sell_off_alert
from withdrawguard.engine.notices import ACTOR, Notices, may_take_over, verify_dest
from withdrawguard.engine.outputs import DestinationObservation, HoldUpdate, Outcome, Verdict
from withdrawguard.engine.policy import HOUR, Policy, fingerprint
from withdrawguard.engine.prune import keep_windows, needs_prune, prune
from withdrawguard.engine.record import network, record_change, record_login, record_notice
from withdrawguard.engine.rules import REGISTRY, Assessment, Liquidation, Rule, Subject
from withdrawguard.engine.state import CaseRec, CustomerState, WithdrawalRec
from withdrawguard.engine.suppressions import covered, muting, record_suppression, rows
from withdrawguard.engine.timeutil import iso, to_ms

LATE_EVIDENCE, RELEASED = "LATE_EVIDENCE", "RELEASED"  # reason codes without weight


class Engine:
    """The policy's rules, and how their findings become verdicts, holds and alerts."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.rules: list[Rule] = [
            make(policy.rule(name)) for name, make in REGISTRY.items() if policy.enabled(name)
        ]
        r = policy.rules
        self.dest_window = r["dest_changed_recently"]["window_hours"] * HOUR
        nd = r["new_device"]
        self.v4_prefix, self.v6_prefix = nd["ipv4_prefix"], nd["ipv6_prefix"]
        self.keep_ms = keep_windows(policy)
        self.liquidation = next((x for x in self.rules if isinstance(x, Liquidation)), None)
        self.notices = Notices(policy)
        self.policy_id = fingerprint(policy)
        self.version = f"{__version__}+policy.{self.policy_id}"

    # ------------------------------------------------------------ entry point

    def apply(self, state: CustomerState, event: CustomerEvent) -> Outcome:
        out = Outcome()
        ts = to_ms(event.occurred_at)
        if isinstance(event, Login):
            fresh = record_login(state, event, ts, out, self._net(event.ip))
        elif isinstance(event, AccountChange):
            fresh = record_change(state, event, ts, out, self._net(event.ip))
        elif isinstance(event, Withdrawal):
            fresh = self._withdrawal(state, event, ts, out)
        elif isinstance(event, CaseDecision):
            fresh = self._case(state, event, ts, out)
        elif isinstance(event, Trade):
            fresh = record_trade(state, event, ts)
        elif isinstance(event, CustomerResponse):
            fresh = self._response(state, event, ts, out)
        else:
            fresh = record_notice(state, event, ts)
        if not fresh:
            out.duplicate = True
            return out
        if may_take_over(event):  # a destination change, or a denial: either order
            for dest, at, ref in self.notices.taken_over(state):
                if dest not in state.fraud_dest:
                    self._mark_fraud(state, dest, at, ref, out)
        if not isinstance(event, CaseDecision | DestinationFraud | CustomerResponse):
            state.horizon = max(state.horizon, ts)  # CustomerState.horizon says why not these
        about_past = isinstance(event, Notice | CustomerResponse)
        self._reevaluate(state, event, ts, None if about_past else ts, out)
        self.notices.send(state, event, out)
        if self.liquidation is not None and isinstance(event, Trade | AccountChange | Login):
            sell_off_alert(self.liquidation, state, state.horizon, out)  # its trigger may come late
        if needs_prune(state, self.policy.limits):
            prune(state, keep_ms=self.keep_ms, limits=self.policy.limits)
            self.notices.prune(state)
        return out

    def assess(self, state: CustomerState, withdrawal_id: str) -> Assessment:
        """What the rules say about one stored withdrawal, given everything known now."""
        subject = Subject(withdrawal_id, state.withdrawals[withdrawal_id], state, self.dest_window)
        findings = tuple(f for rule in self.rules if (f := rule(subject)) is not None)
        findings += self.notices.findings(subject)
        muted = muting(state, (f.code for f in findings), subject.w.ts)
        if muted:
            gone = {m.reason_code for m in muted}
            findings = tuple(f for f in findings if f.code not in gone)
        score = min(100, sum(f.weight for f in findings))
        hold = any(f.holding for f in findings) or score >= self.policy.hold_score
        severity = "none" if not findings else self.policy.severity_for(score)
        floors = [f.severity for f in findings if f.severity]
        if hold:
            floors.append("medium")
        for floor in floors:
            if SEVERITY_RANK[floor] > SEVERITY_RANK[severity]:
                severity = floor
        return Assessment("hold" if hold else "allow", score, severity, findings, muted)

    # ------------------------------------------------------------ input events

    def _net(self, ip: str | None) -> str | None:
        if ip is None:
            return None
        return network(ip, self.v4_prefix, self.v6_prefix)

    def _withdrawal(self, state: CustomerState, e: Withdrawal, ts: int, out: Outcome) -> bool:
        wid = e.withdrawal_id
        known = state.withdrawals.get(wid)
        if known is not None:
            # A repeat: send the current records again, identical, so a verdict lost
            # between the state write and the send is restored. Never a second alert.
            out.verdicts.append(Verdict.of(state.customer_id, wid, known, self.version))
            if known.hold is not None:
                out.holds.append(HoldUpdate.of(state.customer_id, wid, known))
            return False
        rec = WithdrawalRec(
            e.event_id,
            ts,
            str(e.amount),
            e.currency,
            e.destination.key,
            e.channel,
            e.ip,
            e.device_id,
            self._net(e.ip),
            None if e.available_balance is None else str(e.available_balance),
        )
        state.withdrawals[wid] = rec
        out.destinations.append(DestinationObservation("used", rec.dest, e.customer_id, ts, wid))
        case = state.cases.get(wid)
        if case is not None and case.action == "confirm_fraud":
            self._mark_fraud(state, rec.dest, case.ts, case.decision_id, out)
        self._decide(state, wid, self.assess(state, wid), ts, out, late=None)
        if case is not None:
            self._apply_case(state, wid, out)
        return True

    def _case(self, state: CustomerState, e: CaseDecision, ts: int, out: Outcome) -> bool:
        if e.decision_id in state.seen:
            return False
        state.seen[e.decision_id] = ts
        if e.action == "verify_destination":
            assert e.destination is not None
            verify_dest(state, e.destination.key, ts, e.decision_id, e.actor, e.note)
            self._release_verified(state, e.destination.key, out)
            return True
        if e.action == "suppress":
            m = record_suppression(state, e, ts)
            for wid in covered(state, m):
                if (a := self.assess(state, wid)).decision == "allow":
                    w = state.withdrawals[wid]
                    w.suppressed, w.lifted = rows(a.suppressed), True
                    self._release(state, wid, ts, e.actor, e.note, out)
            return True
        assert e.withdrawal_id is not None
        wid = e.withdrawal_id
        prior_case = state.cases.get(wid)
        if prior_case is None or (ts, e.decision_id) > (prior_case.ts, prior_case.decision_id):
            state.cases[wid] = CaseRec(e.decision_id, e.action, ts, e.actor, e.note)
        rec = state.withdrawals.get(wid)
        if rec is not None:
            if e.action == "confirm_fraud":
                self._mark_fraud(state, rec.dest, ts, e.decision_id, out)
            self._apply_case(state, wid, out)
        return True

    def _response(self, state: CustomerState, e: CustomerResponse, ts: int, out: Outcome) -> bool:
        """A customer's answer to a notice (engine/notices.py): a denial marks the
        destination fraudulent as confirm_fraud does; a counted confirmation verifies it."""
        n = self.notices.answer(state, e, out)
        if n is None or n.dest is None:
            return n is not None
        if n.answer == "deny":
            self._mark_fraud(state, n.dest, ts, e.response_id, out)
        elif n.counted:
            note = f"confirmed by the customer (response {e.response_id} to {e.notice_id})"
            verify_dest(state, n.dest, ts, e.response_id, ACTOR, note)
            self._release_verified(state, n.dest, out)
        return True

    # ------------------------------------------------------------ verdicts

    def _reevaluate(
        self, state: CustomerState, event: CustomerEvent, ts: int, since: int | None, out: Outcome
    ) -> None:
        """Re-issue earlier verdicts the new evidence adds to: allow may become hold."""
        floor = max(state.horizon, ts) - self.policy.reevaluate_ms
        for wid, rec in sorted(state.withdrawals.items(), key=lambda kv: (kv[1].ts, kv[0])):
            if rec.event_id == getattr(event, "event_id", None) or wid in state.cases:
                continue  # just decided, or a person already acted on it
            if rec.hold not in (None, "held") and not rec.lifted:
                continue
            if rec.ts < floor or (since is not None and rec.ts < since):
                continue
            self._decide(state, wid, self.assess(state, wid), max(rec.ts, ts), out, late=event)

    def _decide(
        self,
        state: CustomerState,
        wid: str,
        a: Assessment,
        at: int,
        out: Outcome,
        late: CustomerEvent | None,
    ) -> None:
        """Record and emit a verdict, unless it adds nothing to the one already given."""
        rec = state.withdrawals[wid]
        before = {c for c, _, _ in rec.reasons if c not in (LATE_EVIDENCE, RELEASED)}
        codes = {f.code for f in a.findings}
        escalates = rec.decision == "allow" and a.decision == "hold"
        if late is not None and not escalates and codes <= before:
            return
        was_late = any(c == LATE_EVIDENCE for c, _, _ in rec.reasons)
        decision = "hold" if a.decision == "hold" or rec.decision == "hold" else "allow"
        reasons: list[list[Any]] = [[f.code, f.detail, f.weight] for f in a.findings]
        evidence = a.evidence
        if late is not None and (escalates or was_late):
            if escalates:
                rec.late_note = (
                    f"escalated to hold by {late.type} {late.event_id} "
                    f"(occurred {iso(to_ms(late.occurred_at))})"
                )
            reasons.append([LATE_EVIDENCE, rec.late_note, 0])
            evidence.append(late.event_id)
        rec.decision, rec.reasons, rec.evidence, rec.decided_at = decision, reasons, evidence, at
        rec.suppressed = rows(a.suppressed)
        rec.risk_score = max(rec.risk_score, a.risk_score)
        rec.severity = max(rec.severity, a.severity, key=SEVERITY_RANK.__getitem__)
        out.verdicts.append(Verdict.of(state.customer_id, wid, rec, self.version))
        if decision == "hold":
            placed = rec.hold is None
            if placed or rec.lifted:  # new, or held again after a suppression released it
                rec.hold, rec.hold_created = "held", rec.hold_created or at
                rec.lifted, rec.actor, rec.note = False, None, None
            rec.hold_updated = at
            out.holds.append(HoldUpdate.of(state.customer_id, wid, rec, placed=placed))
        if decision == "hold" or rec.risk_score >= self.policy.alert_score:
            alert = alert_for(state, wid, rec)
            if alert.alert_id not in rec.alerts:
                rec.alerts.append(alert.alert_id)
                out.alerts.append(alert)

    # ------------------------------------------------------------ case decisions

    def _mark_fraud(self, state: CustomerState, dest: str, ts: int, ref: str, out: Outcome) -> None:
        prior = state.fraud_dest.get(dest)
        if prior is None or (ts, ref) < (prior[0], prior[1]):
            state.fraud_dest[dest] = [ts, ref]
        out.destinations.append(DestinationObservation("fraud", dest, state.customer_id, ts, ref))

    def _apply_case(self, state: CustomerState, wid: str, out: Outcome) -> None:
        case, rec = state.cases[wid], state.withdrawals[wid]
        if case.action == "confirm_fraud":
            if rec.hold == "confirmed_fraud":
                return
            if rec.decision != "hold":
                self._decide(
                    state, wid, self.assess(state, wid), max(rec.ts, case.ts), out, late=None
                )
            self._set_hold(state, wid, "confirmed_fraud", case.ts, case.actor, case.note, out)
        elif case.action == "release" and rec.hold in ("held", "confirmed_fraud"):
            self._release(state, wid, case.ts, case.actor, case.note, out)

    def _release_verified(self, state: CustomerState, dest: str, out: Outcome) -> None:
        ts, _did, actor, note = state.verified_dest[dest]
        for wid, rec in sorted(state.withdrawals.items(), key=lambda kv: (kv[1].ts, kv[0])):
            if rec.dest != dest or rec.hold != "held" or wid in state.cases:
                continue
            if self.assess(state, wid).decision == "allow":
                self._release(
                    state, wid, ts, actor, f"destination verified: {note or ''}".strip(), out
                )

    def _release(
        self, state: CustomerState, wid: str, ts: int, actor: str, note: str | None, out: Outcome
    ) -> None:
        rec = state.withdrawals[wid]
        rec.decision = "allow"
        rec.reasons = [*rec.reasons, [RELEASED, f"hold released by {actor}", 0]]
        rec.decided_at = max(rec.decided_at, ts)
        out.verdicts.append(Verdict.of(state.customer_id, wid, rec, self.version))
        self._set_hold(state, wid, "released", ts, actor, note, out)

    def _set_hold(
        self,
        state: CustomerState,
        wid: str,
        status: str,
        ts: int,
        actor: str,
        note: str | None,
        out: Outcome,
    ) -> None:
        rec = state.withdrawals[wid]
        created = rec.hold_created if rec.hold_created is not None else max(rec.ts, ts)
        rec.hold, rec.hold_created = status, created
        rec.hold_updated = max(created, ts)
        rec.actor, rec.note = actor, note
        out.holds.append(HoldUpdate.of(state.customer_id, wid, rec))
