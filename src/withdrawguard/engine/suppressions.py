"""Suppressions: named reasons muted for one customer from a time until a time, made by a
person from a case (docs/cases.md) and delivered to the detector as a `suppress` case
decision (docs/contract.md). The case domain and the engine share this module, so the
case page and the verdict agree on which suppression mutes which reason.

A suppression is in force over [created_at, until): from the event time it was made up to,
not including, `until`. The engine judges a withdrawal by the suppressions in force at the
withdrawal's own event time, never the clock, so expiry needs no sweep: a withdrawal at
or after `until` is judged as if there had been none (the case record's
`suppression_expired` event is for people, written by the case sweep).

Some reasons can never be muted (`UNMUTABLE`), whatever a suppression names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from withdrawguard.engine.events import CaseDecision
from withdrawguard.engine.state import CustomerState, SuppressionRec
from withdrawguard.engine.timeutil import from_ms, to_ms

UNMUTABLE: frozenset[str] = frozenset(("CONFIRMED_FRAUD_DESTINATION", "SOURCE_IP_SHARED"))
"""Reasons no suppression mutes, a fixed list rather than policy data so that no policy
edit can open them up. They are not facts about the customer an analyst could have
verified: CONFIRMED_FRAUD_DESTINATION says a person confirmed the destination itself as
fraudulent (for every customer), and muting it would send this customer's money to a
known thief's account; SOURCE_IP_SHARED says the IP behind the action tried logins into
many customers, the mark of a credential-stuffing wave, which a verified phone or trip
does not explain."""

LONGEST = timedelta(days=366)
"""The longest suppression the detector accepts, whatever a case policy allows (a case
policy's `max_suppression_days` is at most 366 too)."""


@dataclass(frozen=True, slots=True)
class Suppression:
    suppression_id: str
    customer_id: str
    reason_codes: tuple[str, ...]
    until: datetime
    note: str | None
    created_by: str
    created_at: datetime
    case_id: str

    def active_at(self, now: datetime) -> bool:
        """In force from its creation up to (not including) `until`."""
        return self.created_at <= now < self.until

    def expired_at(self, now: datetime) -> bool:
        return now >= self.until


@dataclass(frozen=True, slots=True)
class Applied:
    """One reason of a verdict muted by one suppression."""

    reason_code: str
    suppression: Suppression


def mutable(reason_codes: Iterable[str]) -> tuple[str, ...]:
    """The codes of `reason_codes` a suppression may mute, in their order."""
    return tuple(c for c in reason_codes if c not in UNMUTABLE)


def applying(
    suppressions: Iterable[Suppression],
    customer_id: str,
    reason_codes: Iterable[str],
    at: datetime,
) -> tuple[Applied, ...]:
    """Which of `reason_codes` are muted for `customer_id` at `at`, and by which
    suppression: for each muted code the active suppression lasting longest (then the
    smallest id), so the answer does not depend on the order they are given in. A code
    in `UNMUTABLE` is never muted."""
    active = [s for s in suppressions if s.customer_id == customer_id and s.active_at(at)]
    if not active:
        return ()
    out: list[Applied] = []
    for code in dict.fromkeys(mutable(reason_codes)):
        covering = [s for s in active if code in s.reason_codes]
        if covering:
            best = min(covering, key=lambda s: (-s.until.timestamp(), s.suppression_id))
            out.append(Applied(code, best))
    return tuple(out)


def unmuted(
    suppressions: Iterable[Suppression],
    customer_id: str,
    reason_codes: Iterable[str],
    at: datetime,
) -> tuple[str, ...]:
    """The reason codes no active suppression mutes, in their order."""
    codes = tuple(reason_codes)
    muted = {a.reason_code for a in applying(suppressions, customer_id, codes, at)}
    return tuple(c for c in codes if c not in muted)


# ---------------------------------------------------------------- in the engine's state


def record_suppression(state: CustomerState, e: CaseDecision, ts: int) -> SuppressionRec:
    """Keep a `suppress` decision in the state (its unmutable codes dropped). Of two
    decisions naming one suppression id, the earlier (then the smaller decision id) is
    kept, whichever arrives first."""
    assert e.suppression_id is not None and e.case_id is not None and e.until is not None
    rec = SuppressionRec(
        e.decision_id,
        ts,
        to_ms(e.until),
        list(mutable(e.reason_codes)),
        e.case_id,
        e.actor,
        e.note,
    )
    prior = state.suppressions.get(e.suppression_id)
    if prior is None or (rec.start, rec.decision_id) < (prior.start, prior.decision_id):
        state.suppressions[e.suppression_id] = rec
    return state.suppressions[e.suppression_id]


def muting(state: CustomerState, reason_codes: Iterable[str], ts: int) -> tuple[Applied, ...]:
    """Which of `reason_codes` the customer's suppressions mute at event time `ts`."""
    if not state.suppressions:
        return ()
    kept = [
        Suppression(
            sid,
            state.customer_id,
            tuple(m.codes),
            from_ms(m.until),
            m.note,
            m.actor,
            from_ms(m.start),
            m.case_id,
        )
        for sid, m in state.suppressions.items()
    ]
    return applying(kept, state.customer_id, reason_codes, from_ms(ts))


def rows(applied: Iterable[Applied]) -> list[list[Any]]:
    """As a withdrawal record keeps them: [reason, suppression id, case id, until ms]."""
    return [
        [
            a.reason_code,
            a.suppression.suppression_id,
            a.suppression.case_id,
            to_ms(a.suppression.until),
        ]
        for a in applied
    ]


def covered(state: CustomerState, m: SuppressionRec) -> list[str]:
    """Withdrawals made while `m` is in force, still held, that no person has decided on:
    the ones a suppression heard of after them may release (as it would have allowed them
    had it been heard of first), in event-time order."""
    return [
        wid
        for wid, w in sorted(state.withdrawals.items(), key=lambda kv: (kv[1].ts, kv[0]))
        if m.start <= w.ts < m.until and w.hold == "held" and wid not in state.cases
    ]
