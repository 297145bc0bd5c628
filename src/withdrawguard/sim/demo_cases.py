"""The demo's cases: after its playbooks, the cases the worker's case intake opened for
the holds (one per customer, in the inbox its routing chose), and three of them worked
by the demo's people through the case service (the one the console and `withdrawguard
cases` use), so an operator has cases in different states to look at:

- one taken by the analyst `demo`, with a comment;
- one taken by `demo`, with a release of its largest hold proposed, waiting for a
  supervisor's approval (four eyes; below the threshold a release is done at once);
- one closed as confirmed fraud by the supervisor `demo-lead` (which confirms its holds
  to the detector).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from withdrawguard.adapters.case_store import RedisCaseStore, case_prefix
from withdrawguard.adapters.kafka_io import kafka_produce
from withdrawguard.adapters.redis_connection import async_redis
from withdrawguard.auth.users import add_user
from withdrawguard.cases import commands as cmd
from withdrawguard.cases.case import Case
from withdrawguard.cases.people import Actor
from withdrawguard.casework.config import load_case_config
from withdrawguard.casework.service import CaseService, CaseTopics
from withdrawguard.contract import topics as t
from withdrawguard.settings import Settings

ANALYST, SUPERVISOR = Actor("demo", "analyst"), Actor("demo-lead", "supervisor")
WAIT_SECONDS = 60.0
"""How long the case intake may take to open the cases of the run's holds."""


@dataclass(frozen=True, slots=True)
class DemoCases:
    inboxes: Mapping[str, int]
    """Cases of the run per inbox."""
    worked: list[tuple[str, str]]
    """(case id, what was done to it)."""
    missing: list[str]
    """Holds of the run in no case when the wait ended."""


def ensure_supervisor(settings: Settings) -> tuple[str, str] | None:
    """The demo's supervisor console user, with a freshly generated password."""
    if settings.users_file is None:
        return None
    password = secrets.token_urlsafe(12)
    add_user(settings.users_file, SUPERVISOR.user, "supervisor", password)
    return SUPERVISOR.user, password


def password_file(settings: Settings, user: str, password: str) -> Path | None:
    """The user's password in a file beside the users file, for `--password-file`."""
    if settings.users_file is None:
        return None
    path = settings.users_file.parent / f"{user}.password"
    path.touch(mode=0o600)
    path.write_text(password + "\n", encoding="utf-8")
    return path


def work_cases(settings: Settings, holds: Mapping[str, str]) -> DemoCases:
    """Wait for a case holding each of `holds` (hold id -> customer id), then work three."""
    return asyncio.run(_work(settings, holds))


async def _work(settings: Settings, holds: Mapping[str, str]) -> DemoCases:
    config = load_case_config(settings.inboxes_file)
    redis = async_redis(settings)
    names = t.TopicNames(settings)
    topics = CaseTopics(names.name(t.CASE_EVENTS), names.name(t.CASE_DECISIONS))
    store = RedisCaseStore(redis, case_prefix(settings.app_id))
    try:
        cases, missing = await _opened(store, holds)
        async with kafka_produce(settings) as produce:
            service = CaseService(store, produce, topics, config, clock=lambda: datetime.now(UTC))
            worked = await _act(service, cases)
        stored = [await store.case(c.case_id) for c in cases]
        return DemoCases(Counter(c.inbox for c in stored if c is not None), worked, sorted(missing))
    finally:
        await redis.aclose()  # type: ignore[attr-defined]  # stubs predate aclose


async def _opened(store: RedisCaseStore, holds: Mapping[str, str]) -> tuple[list[Case], set[str]]:
    """The cases holding the holds (opening order), and the holds in none, once every
    hold has its case or WAIT_SECONDS have passed."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        found: dict[str, Case] = {}
        for customer in sorted(set(holds.values())):
            for case in await store.cases_of(customer):
                found[case.case_id] = case
        held = {h.hold_id for c in found.values() for h in c.holds}
        missing = set(holds) - held
        if not missing or time.monotonic() > deadline:
            return sorted(found.values(), key=lambda c: (c.opened_at, c.case_id)), missing
        await asyncio.sleep(0.5)


async def _act(service: CaseService, cases: list[Case]) -> list[tuple[str, str]]:
    inboxes = service.config.inboxes
    workable = [
        c
        for c in cases
        if not c.closed and (box := inboxes.get(c.inbox)) is not None and box.may_work(ANALYST)
    ]
    worked: list[tuple[str, str]] = []
    # The release is proposed on the largest held hold needing four eyes, if any case
    # the analyst may work has one (which cases those are depends on how the worker's
    # news arrived); the comment goes to another case.
    proposed = max(
        (c for c in workable if _four_eyes_hold(service, c) is not None),
        key=lambda c: _largest_held(c),
        default=None,
    )
    rest = [c for c in workable if c is not proposed]
    if rest:
        case = await _do(service, ANALYST, cmd.Claim, rest[0])
        note = "Called the customer on the number on file; no answer yet. Trying again at 3 pm."
        await _do(service, ANALYST, cmd.Comment, case, note=note)
        worked.append((case.case_id, f"taken by {ANALYST.user}, with a comment"))
    if proposed is None and len(rest) > 1:
        proposed = max(rest[1:], key=_largest_held)
    if proposed is not None:
        case = await _do(service, ANALYST, cmd.Claim, proposed)
        hold = max((h for h in case.holds if h.fate == "held"), key=lambda h: h.amount)
        note = "The customer confirmed the new account in a call to the number on file."
        case = await _do(service, ANALYST, cmd.Release, case, hold_id=hold.hold_id, note=note)
        if case.proposals:
            what = (
                f"release of {hold.hold_id} proposed by {ANALYST.user}, waiting for a"
                f" supervisor (proposal {case.proposals[0].proposal_id})"
            )
        else:
            what = f"{hold.hold_id} released by {ANALYST.user} (below the four-eyes threshold)"
        worked.append((case.case_id, what))
    done = {c for c, _ in worked}
    rest = [c for c in cases if not c.closed and c.case_id not in done]
    if rest:
        case = await _do(service, SUPERVISOR, cmd.Claim, rest[0])
        note = "Same mule destination as two confirmed cases this week; customer denies it."
        await _do(service, SUPERVISOR, cmd.Close, case, outcome="confirmed_fraud", note=note)
        worked.append((case.case_id, f"closed as confirmed fraud by {SUPERVISOR.user}"))
    return worked


def _largest_held(case: Case) -> Decimal:
    return max((h.amount for h in case.holds if h.fate == "held"), default=Decimal(0))


def _four_eyes_hold(service: CaseService, case: Case) -> Decimal | None:
    """The largest held hold of `case` whose release takes four eyes, or None."""
    policy = service.config.policy
    amounts = [
        h.amount
        for h in case.holds
        if h.fate == "held" and policy.needs_four_eyes(h.amount, h.currency)
    ]
    return max(amounts, default=None)


def render_cases(found: DemoCases, settings: Settings, logins: Mapping[str, Path | None]) -> str:
    """The run's cases per inbox, the three worked, and the commands to look at them
    (`logins`: user -> password file)."""
    lines = ["", "Cases (opened by the worker's case intake, one per customer with holds):"]
    lines += [f"  {inbox:<20} {n:>3} cases" for inbox, n in sorted(found.inboxes.items())]
    lines += [f"  {case_id}  {what}" for case_id, what in found.worked]
    if found.missing:
        lines.append(f"  {len(found.missing)} hold(s) in no case, e.g. {found.missing[:3]}")
    env = f"WG_USERS_FILE={settings.users_file} " if settings.users_file else ""

    def sign_in(user: str) -> str:
        path = logins.get(user)
        return f"--user {user}" + (f" --password-file {path}" if path else "")

    lines.append("Look at them:")
    for inbox in sorted(found.inboxes):
        who = sign_in(SUPERVISOR.user if inbox == "critical" else ANALYST.user)
        lines.append(f"  {env}withdrawguard cases list --inbox {inbox} {who}")
    if found.worked:
        lines.append(
            f"  {env}withdrawguard cases show {found.worked[0][0]} {sign_in(ANALYST.user)}"
        )
    for case_id, what in found.worked:
        if "(proposal " in what:  # the second pair of eyes
            proposal = what.rsplit("(proposal ", 1)[1].rstrip(")")
            lines.append(
                f"  {env}withdrawguard cases approve {case_id} {proposal}"
                f" {sign_in(SUPERVISOR.user)}"
            )
    lines.append(f"  console: http://127.0.0.1:{settings.web_port}/cases")
    return "\n".join(lines)


async def _do(service: CaseService, actor: Actor, kind: type, case: Case, **fields: object) -> Case:
    command = kind(
        case_id=case.case_id,
        command_id=service.new_command_id(),
        seen_version=case.version,
        **fields,
    )
    return (await service.execute(actor, command)).case
