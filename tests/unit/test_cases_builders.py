"""Builders for the case-work tests (no tests here): people, news, a `Desk` that runs
commands against one case as the console would, and hypothesis strategies for whole
sessions of case work."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import strategies as st

from withdrawguard.cases import commands as cmd
from withdrawguard.cases.case import Case, apply
from withdrawguard.cases.errors import CaseError
from withdrawguard.cases.events import CaseEvent, Fate, Severity, Trigger
from withdrawguard.cases.inboxes import InboxBook, load_inboxes
from withdrawguard.cases.intake import expire_due, intake
from withdrawguard.cases.people import Actor
from withdrawguard.cases.policy import CasePolicy

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
POLICY = CasePolicy()
INBOXES = load_inboxes()
ADMINS_TOO = replace(
    INBOXES, inboxes=tuple(replace(i, roles=i.roles | {"admin"}) for i in INBOXES.inboxes)
)
"""The packaged inboxes with admins allowed to work every one (by default they are not)."""
ALICE = Actor("alice", "analyst")
BOB = Actor("bob", "analyst")
SUE = Actor("sue", "supervisor")
TOM = Actor("tom", "supervisor")
ADA = Actor("ada", "admin")
VIC = Actor("vic", "viewer")


def news(
    ref: str = "hold-w1",
    *,
    kind: str = "hold",
    amount: str | None = "5000000",
    currency: str | None = "JPY",
    status: Fate | None = "held",
    reasons: tuple[str, ...] = ("DEST_CHANGED_RECENTLY",),
    severity: Severity = "high",
    channel: str | None = "web",
) -> Trigger:
    return Trigger(
        kind=kind,  # type: ignore[arg-type]  # tests pass the three kinds by name
        ref_id=ref,
        severity=severity,
        reason_codes=reasons,
        withdrawal_id=ref.removeprefix("hold-"),
        amount=None if amount is None else Decimal(amount),
        currency=currency,
        channel=channel,
        hold_status=status if kind == "hold" else None,
    )


@dataclass
class Desk:
    """One case and its log; `do` runs a command as `actor` with the version they see."""

    case: Case
    log: list[CaseEvent]
    now: datetime = T0
    inboxes: InboxBook = INBOXES
    policy: CasePolicy = POLICY
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @classmethod
    def open(cls, first: Trigger | None = None, customer: str = "cust-1") -> Desk:
        [opened] = intake([], customer, first or news(), now=T0, inboxes=INBOXES)
        return cls(apply(None, opened), [opened])

    def write(self, events: list[CaseEvent]) -> list[CaseEvent]:
        for event in events:
            self.case = apply(self.case, event)
            self.log.append(event)
        return events

    def do(self, actor: Actor, kind: type[Any], *, seen: int | None = None, **kw: Any) -> CaseEvent:
        command = kind(
            case_id=self.case.case_id,
            command_id=f"cmd-{next(self.ids)}",
            seen_version=self.case.version if seen is None else seen,
            **kw,
        )
        events = cmd.decide(
            self.case, actor, command, now=self.now, policy=self.policy, inboxes=self.inboxes
        )
        return self.write(events)[-1]  # a close may first record expired proposals

    def news(self, trigger: Trigger) -> list[CaseEvent]:
        """The events the news writes; only those of this desk's case are applied (a new
        case it opens is someone else's desk)."""
        c = self.case
        events = intake([c], c.customer_id, trigger, now=self.now, inboxes=self.inboxes)
        self.write([e for e in events if e.case_id == c.case_id])
        return events

    def tick(self, delta: timedelta) -> list[CaseEvent]:
        self.now += delta
        return self.write(expire_due(self.case, self.now))


def refused(desk: Desk, actor: Actor, kind: type[Any], **kw: Any) -> CaseError:
    """The refusal of a command, checking that nothing changed."""
    before, log = desk.case, list(desk.log)
    with pytest.raises(CaseError) as caught:
        desk.do(actor, kind, **kw)
    assert desk.case == before and desk.log == log
    return caught.value


# ------------------------------------------------------------ sessions for properties

PEOPLE = (
    ALICE,
    BOB,
    SUE,
    TOM,
    ADA,
    VIC,
    Actor("Alice ", "supervisor"),  # alice again, under another role and spelling
    Actor("SUE", "admin"),
)
NOTES = st.one_of(st.text(min_size=1, max_size=30), st.none(), st.just(""), st.just("x" * 2049))


@st.composite
def steps(draw: st.DrawFn) -> tuple[str, Any]:
    """One thing that happens to a case: a command by someone, news, or time passing."""
    what = draw(st.sampled_from(["command"] * 6 + ["news", "tick"]))
    if what == "tick":
        return "tick", timedelta(minutes=draw(st.integers(1, 48 * 60)))
    if what == "news":
        n = draw(st.integers(1, 4))
        amount = draw(st.sampled_from(["1000", "999999", "1000000", "98000000"]))
        status = draw(st.sampled_from(["held", "held", "released", "confirmed_fraud"]))
        return "news", news(f"hold-w{n}", amount=amount, status=status)
    actor = draw(st.sampled_from(PEOPLE))
    kind = draw(
        st.sampled_from(
            [
                *(cmd.Claim, cmd.Assign, cmd.Unassign, cmd.ChangeStatus, cmd.Comment),
                *(cmd.Release, cmd.Release, cmd.Approve, cmd.Approve, cmd.Approve),
                *(cmd.Withdraw, cmd.Close, cmd.Close, cmd.Reopen, cmd.Reopen, cmd.Suppress),
            ]
        )
    )
    kw: dict[str, Any] = {}
    if kind is cmd.Assign:
        kw["assignee"] = draw(st.sampled_from(PEOPLE))
    if kind is cmd.ChangeStatus:
        kw["status"] = draw(
            st.sampled_from(
                ["open", "investigating", "escalated", "waiting_on_customer", "closed", "x"]
            )
        )
    if kind is cmd.Close:
        kw["outcome"] = draw(
            st.sampled_from(["confirmed_fraud", "false_positive", "other", "bogus"])
        )
    if kind is cmd.Release:
        kw["hold_id"] = f"hold-w{draw(st.integers(1, 2))}"
    if kind in (cmd.Approve, cmd.Withdraw):
        kw["proposal_id"] = "?"  # filled in from the case's pending proposals
    if kind is cmd.Suppress:
        kw["reason_codes"] = ("NEW_DEVICE",)
        kw["until"] = T0 + timedelta(days=draw(st.integers(1, 40)))
    if kind is not cmd.Claim:
        kw["note"] = draw(st.text(min_size=1, max_size=20) if kind is cmd.Comment else NOTES)
    stale = draw(st.integers(0, 9)) == 0
    return "command", (actor, kind, kw, stale)


def run_session(session: list[tuple[str, Any]]) -> Desk:
    """Play a session against a case opened by a ¥5,000,000 hold; refusals write nothing."""
    desk = Desk.open()
    for what, arg in session:
        if what == "tick":
            desk.tick(arg)
        elif what == "news":
            desk.news(arg)
        else:
            actor, kind, kw, stale = arg
            if kw.get("proposal_id") == "?":
                pending = desk.case.proposals
                kw = {**kw, "proposal_id": pending[0].proposal_id if pending else "none"}
            if kind is cmd.Suppress:
                kw = {**kw, "until": desk.now + (kw["until"] - T0)}
            before = desk.case
            try:
                desk.do(actor, kind, seen=desk.case.version - 1 if stale else None, **kw)
            except CaseError:
                assert desk.case == before
    return desk


sessions = st.lists(steps(), max_size=40)
