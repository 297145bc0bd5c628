"""The worker's sweeps over the in-memory store: expiry, SLA breaches and auto-assignment
write each change once, even with two sweepers; round-robin skips people away; who may
mark whom away (tests/unit/case_fakes.py)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tests.unit.case_fakes import FakeCaseStore, service
from tests.unit.test_cases_builders import ALICE, BOB, SUE, T0, TOM, news
from withdrawguard.cases import commands as cmd
from withdrawguard.cases.errors import Forbidden, Invalid, NotFound
from withdrawguard.cases.inboxes import InboxError, parse_inboxes
from withdrawguard.cases.people import Actor
from withdrawguard.cases.policy import CasePolicy
from withdrawguard.casework import availability
from withdrawguard.casework.config import CaseConfig, load_case_config
from withdrawguard.casework.service import CaseService
from withdrawguard.casework.sla import timings
from withdrawguard.casework.sweeps import Sweeps

CONFIG = load_case_config(None)
AUTO = CaseConfig(
    parse_inboxes(
        'default = "desk"\n[[inbox]]\nname = "desk"\nsla_minutes = 60\nauto_assign = true\n',
        "test",
    ),
    CasePolicy(),
)
CAROL = Actor("carol", "analyst")


def _sweeps(svc: CaseService, store: FakeCaseStore, people: list[Actor] | None = None) -> Sweeps:
    return Sweeps(svc, store, lambda: people or [], clock=lambda: svc._clock())  # noqa: SLF001 - the service's test clock


async def test_an_expired_proposal_is_recorded_once_by_two_sweepers_at_once() -> None:
    svc, store, producer, clock = service(CONFIG, T0)
    [opened] = await svc.intake("cust-1", news())
    release = cmd.Release(
        case_id=opened.case_id, command_id="p1", seen_version=1, hold_id="hold-w1", note="ok"
    )
    await svc.execute(SUE, release)
    first, second = _sweeps(svc, store), _sweeps(svc, store)
    assert await first.expire(clock.now + timedelta(hours=23)) == 0  # not yet
    clock.advance(hours=25)
    counts = await asyncio.gather(first.expire(clock.now), second.expire(clock.now))
    assert sorted(counts) == [0, 1]
    kinds = [e.kind for e in await svc.events(opened.case_id)]
    assert kinds.count("proposal_expired") == 1
    assert (await svc.case(opened.case_id)).proposals == ()
    assert await store.expiring(int(clock.now.timestamp() * 1000)) == []
    written = [r for r in producer.records if b"proposal_expired" in r[2]]
    assert len(written) == 1


async def test_an_expired_suppression_is_recorded_by_the_sweep() -> None:
    svc, store, _, clock = service(CONFIG, T0)
    [opened] = await svc.intake("cust-1", news())
    suppress = cmd.Suppress(
        case_id=opened.case_id,
        command_id="s1",
        seen_version=1,
        reason_codes=("NEW_DEVICE",),
        until=T0 + timedelta(days=2),
        note="new phone, verified",
    )
    await svc.execute(SUE, suppress)
    clock.advance(days=2)
    swept = await _sweeps(svc, store).run()
    assert swept is not None and swept.expired == 1
    assert "suppression_expired" in [e.kind for e in await svc.events(opened.case_id)]


async def test_a_sweep_skips_its_round_while_another_worker_holds_the_sweep_lock() -> None:
    svc, store, _, _ = service(CONFIG, T0)
    token = await store.lock("sweep", 60_000)
    assert token is not None
    assert await _sweeps(svc, store).run() is None
    await store.unlock("sweep", token)
    assert await _sweeps(svc, store).run() is not None


async def test_a_breach_is_recorded_once_per_due_time_and_again_after_a_resurface() -> None:
    svc, store, _, clock = service(CONFIG, T0)
    [opened] = await svc.intake("cust-1", news())  # large-withdrawals: 2 h
    sweeps = _sweeps(svc, store)
    assert await sweeps.breaches(T0 + timedelta(minutes=119)) == 0
    clock.advance(hours=2, minutes=1)
    assert await sweeps.breaches(clock.now) == 1
    assert await sweeps.breaches(clock.now + timedelta(minutes=5)) == 0
    [event] = [e for e in await svc.events(opened.case_id) if e.kind == "sla_breached"]
    assert event.due_at == T0 + timedelta(hours=2)  # type: ignore[union-attr]
    assert event.customer_id == "cust-1" and event.inbox == "large-withdrawals"  # type: ignore[union-attr]
    case = await svc.case(opened.case_id)
    wait = cmd.ChangeStatus(
        case_id=case.case_id,
        command_id="w",
        seen_version=case.version,
        status="waiting_on_customer",
    )
    await svc.execute(SUE, wait)
    await svc.intake("cust-1", news("hold-w2"))  # resurfaced: a fresh due time
    assert await sweeps.breaches(clock.now) == 0
    clock.advance(hours=3)
    assert await sweeps.breaches(clock.now) == 1


async def test_auto_assignment_goes_round_robin_and_skips_the_analyst_away() -> None:
    svc, store, _, clock = service(AUTO, T0)
    for n in range(5):  # one a minute: due one after the other
        await svc.intake(f"cust-{n}", news(f"hold-w{n}"))
        clock.advance(minutes=1)
    await availability.away(store, SUE, "bob", clock.now + timedelta(hours=1), {"bob": None})
    sweeps = _sweeps(svc, store, [ALICE, BOB, CAROL, Actor("vic", "viewer")])
    assert await sweeps.assign(clock.now) == 5
    cases = [await svc.case(f) for f in await store.case_ids()]
    by_opening = sorted(cases, key=lambda c: (c.opened_at, c.case_id))
    given = [c.assignee for c in sorted(by_opening, key=lambda c: (c.due_at, c.case_id))]
    assert given == ["alice", "carol", "alice", "carol", "alice"]
    assert await store.last_assigned("desk") == "alice"
    clock.advance(hours=2)  # bob is back
    await svc.intake("cust-9", news("hold-w9"))
    assert await sweeps.assign(clock.now) == 1
    [newest] = [
        c for c in [await svc.case(f) for f in await store.case_ids()] if c.customer_id == "cust-9"
    ]
    assert newest.assignee == "bob"
    assert await sweeps.assign(clock.now) == 0  # nothing unassigned left


async def test_inboxes_without_auto_assign_are_left_to_take_next() -> None:
    svc, store, _, clock = service(CONFIG, T0)
    await svc.intake("cust-1", news())
    assert await _sweeps(svc, store, [ALICE, BOB]).assign(clock.now) == 0


def test_auto_assign_must_be_a_boolean_naming_the_key() -> None:
    with pytest.raises(InboxError, match=r"inbox\[0\]\.auto_assign' must be true or false"):
        parse_inboxes(
            'default = "a"\n[[inbox]]\nname = "a"\nsla_hours = 1\nauto_assign = "yes"\n', "t"
        )
    assert not CONFIG.inboxes.inboxes[0].auto_assign


async def test_marking_away_is_for_oneself_or_a_supervisor_with_a_future_time() -> None:
    store = FakeCaseStore()
    users = {"alice": None, "bob": None}
    with pytest.raises(Forbidden, match="takes a supervisor"):
        await availability.away(store, ALICE, "bob", T0, users)
    with pytest.raises(NotFound):
        await availability.back(store, TOM, "zed", users)
    with pytest.raises(Invalid, match="not later than now"):
        availability.until_of("2026-12-01T08:00:00Z", T0)
    with pytest.raises(Invalid, match="no offset"):
        availability.until_of("2026-12-02T08:00:00", T0)
    until = availability.until_of("2026-12-02T09:00:00+09:00", T0)
    await availability.away(store, ALICE, "Alice", until, {"Alice": None})
    assert await store.away() == {"alice": until}
    assert "available" in await availability.back(store, TOM, "alice", users)
    assert await store.away() == {}


async def test_timings_tell_first_action_and_close_once_each() -> None:
    svc, _, _, clock = service(CONFIG, T0)
    [opened] = await svc.intake("cust-1", news(amount="50000"))
    first = await svc.case(opened.case_id)
    assert timings(None, first) == (None, None)  # the system opened it: nobody acted
    clock.advance(minutes=10)
    claimed = await svc.execute(
        ALICE, cmd.Claim(case_id=first.case_id, command_id="c", seen_version=1)
    )
    assert timings(first, claimed.case) == (600.0, None)
    clock.advance(minutes=20)
    released = await svc.execute(
        ALICE, cmd.Release(case_id=first.case_id, command_id="r", seen_version=2, hold_id="hold-w1")
    )
    assert timings(claimed.case, released.case) == (None, None)  # not the first any more
    close = cmd.Close(
        case_id=first.case_id, command_id="x", seen_version=3, outcome="false_positive", note="ok"
    )
    closed = await svc.execute(ALICE, close)
    assert timings(released.case, closed.case) == (None, 1800.0)
    assert timings(closed.case, closed.case) == (None, None)
