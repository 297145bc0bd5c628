"""Assignment and SLA: take-next offers the case due first and never one claimed by
someone else; round-robin skips the unavailable; time left and breaches."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.test_cases_builders import ADA, ALICE, BOB, INBOXES, SUE, T0, VIC, Desk, news
from withdrawguard.cases import commands as cmd
from withdrawguard.cases import events as ev
from withdrawguard.cases.assignment import (
    auto_assign,
    breaches,
    next_analyst,
    queue,
    sla,
    take_next,
)
from withdrawguard.cases.case import Case
from withdrawguard.cases.errors import Conflict
from withdrawguard.cases.people import Actor, Analyst


def case(n: int, **change: object) -> Case:
    """Case n of customer n in the general inbox (¥300,000 hold), changed as given."""
    desk = Desk.open(news(f"hold-{n}", amount="300000"), customer=f"cust-{n}")
    return replace(desk.case, **change)  # type: ignore[arg-type]


def test_take_next_gives_the_unassigned_case_due_first() -> None:
    cases = [
        case(1, due_at=T0 + timedelta(hours=3)),
        case(2, due_at=T0 + timedelta(hours=1), assignee="bob"),
        case(3, due_at=T0 + timedelta(hours=2)),
        case(4, due_at=T0, status="waiting_on_customer"),
        case(5, due_at=T0, status="closed"),
    ]
    found = take_next(cases, ALICE, INBOXES)
    assert found is not None and found.customer_id == "cust-3"
    assert [c.customer_id for c in queue(cases, ALICE, INBOXES)] == ["cust-3", "cust-1"]


def test_take_next_skips_cases_lost_to_a_race_and_inboxes_one_may_not_work() -> None:
    critical = Desk.open(news("hold-9", severity="critical"), customer="cust-9").case
    cases = [case(1), case(2), critical]
    first = take_next(cases, ALICE, INBOXES)
    assert first is not None
    second = take_next(cases, ALICE, INBOXES, skip=frozenset({first.case_id}))
    assert second is not None and second.case_id != first.case_id
    assert take_next(cases, ALICE, INBOXES, skip=frozenset({first.case_id, second.case_id})) is None
    assert take_next(cases, SUE, INBOXES, inbox="critical") == critical
    assert take_next(cases, VIC, INBOXES) is None


def test_two_people_offered_the_same_case_claim_it_once() -> None:
    """The second claim carries a stale version: 409, and take-next moves on."""
    desk = Desk.open(news(amount="300000"))
    seen = desk.case.version
    desk.do(ALICE, cmd.Claim, seen=seen)
    with pytest.raises(Conflict) as conflict:
        desk.do(BOB, cmd.Claim, seen=seen)
    assert [c.kind for c in conflict.value.changes] == ["claimed"]
    assert desk.case.assignee == "alice"
    assert take_next([desk.case], BOB, INBOXES) is None


people = st.sampled_from([ALICE, BOB, SUE, ADA, Actor("Alice", "analyst")])


@settings(max_examples=300, deadline=None)
@given(
    shapes=st.lists(
        st.tuples(
            st.integers(0, 240),
            st.none() | st.sampled_from(["alice", "bob", "sue", "Alice"]),
            st.sampled_from(
                ["open", "investigating", "escalated", "waiting_on_customer", "closed"]
            ),
            st.booleans(),
        ),
        max_size=12,
    ),
    me=people,
)
def test_take_next_never_offers_a_case_claimed_by_anyone(
    shapes: list[tuple[int, str | None, str, bool]], me: Actor
) -> None:
    cases = [
        replace(
            Desk.open(
                news(f"hold-{i}", severity="critical" if crit else "high", amount="10"), f"c{i}"
            ).case,
            due_at=T0 + timedelta(minutes=due),
            assignee=who,
            status=status,  # type: ignore[arg-type]
        )
        for i, (due, who, status, crit) in enumerate(shapes)
    ]
    found = take_next(cases, me, INBOXES)
    eligible = [
        c
        for c in cases
        if c.assignee is None
        and c.status not in ("closed", "waiting_on_customer")
        and INBOXES.get(c.inbox).may_work(me)  # type: ignore[union-attr]
    ]
    if found is None:
        assert eligible == []
    else:
        assert found.assignee is None and found in eligible
        assert found.due_at == min(c.due_at for c in eligible)


def test_round_robin_goes_round_in_name_order_skipping_the_unavailable() -> None:
    c = case(1)
    team = [
        Analyst(BOB),
        Analyst(ALICE),
        Analyst(Actor("carl", "analyst"), unavailable_until=T0 + timedelta(hours=1)),
        Analyst(Actor("dana", "analyst"), unavailable_until=T0 - timedelta(hours=1)),
        Analyst(VIC),
    ]

    def after(last: str | None, now: datetime = T0) -> str | None:
        found = next_analyst(c, team, last, INBOXES, now)
        return None if found is None else found.actor.user

    assert [after(None), after("alice"), after("bob"), after("dana")] == [
        "alice",
        "bob",
        "dana",
        "alice",
    ]
    assert after("bob", T0 + timedelta(hours=1)) == "carl"  # back from leave
    assert next_analyst(c, [Analyst(VIC)], None, INBOXES, T0) is None


def test_auto_assignment_writes_an_assigned_event_by_the_system() -> None:
    c = case(1)
    [event] = auto_assign(c, [Analyst(ALICE), Analyst(BOB)], "alice", INBOXES, T0)
    assert isinstance(event, ev.Assigned)
    assert (event.actor, event.assignee, event.case_id) == ("system", "bob", c.case_id)
    assert auto_assign(replace(c, assignee="alice"), [Analyst(BOB)], None, INBOXES, T0) == []
    assert auto_assign(c, [], None, INBOXES, T0) == []


def test_auto_assignment_gives_a_supervisors_inbox_only_to_supervisors() -> None:
    critical = Desk.open(news(severity="critical")).case
    [event] = auto_assign(critical, [Analyst(ALICE), Analyst(SUE)], None, INBOXES, T0)
    assert isinstance(event, ev.Assigned) and event.assignee == "sue"


def test_sla_time_left_and_breach() -> None:
    c = case(1)  # general inbox: 8 hours
    assert c.due_at == T0 + timedelta(hours=8)
    assert sla(c, T0 + timedelta(hours=7)).left == timedelta(hours=1)
    assert not sla(c, T0 + timedelta(hours=8)).breached  # due at, not past
    late = sla(c, T0 + timedelta(hours=9))
    assert late.breached and late.left == -timedelta(hours=1)
    closed_in_time = replace(c, status="closed", closed_at=T0 + timedelta(hours=1))
    assert not sla(closed_in_time, T0 + timedelta(days=3)).breached
    closed_late = replace(c, status="closed", closed_at=T0 + timedelta(hours=9))
    assert sla(closed_late, T0 + timedelta(hours=9)).breached


def test_breaches_count_open_cases_past_due_per_inbox() -> None:
    now = T0 + timedelta(hours=9)
    cases = [
        case(1),
        case(2),
        case(3, due_at=T0 + timedelta(hours=10)),
        case(4, status="closed", closed_at=now),
        Desk.open(news("hold-5", severity="critical"), customer="c5").case,
    ]
    assert breaches(cases, now) == {"general": 2, "critical": 1}
