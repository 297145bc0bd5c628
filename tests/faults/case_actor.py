"""Test-only: a person working cases through the real `CaseService` (the one the CLI and
the console use), on the deployment's Kafka and Redis, journalling what it was told:

    python -m tests.faults.case_actor JOURNAL USER ROLE loop
        take the case due first, comment, change its status, propose releasing its
        holds, withdraw a proposal; again, until killed
    python -m tests.faults.case_actor JOURNAL USER ROLE comment CASE [pause]
        comment on CASE once (told it changed meanwhile, look again); with `pause`,
        stop for good between the broker's acknowledgement and the store write (the
        fault suite kills it there)

ROLE is `analyst` or `supervisor` (who may work every inbox: the load's chain attacks
land in the supervisors' `critical` inbox). The journal gets `ok <event id> <kind>
<case id>` for every event of an action the service carried out (the actor's
"success"), written and fsynced before the next action, and `acked ...` when it
pauses. Settings come from WG_* as for the worker. The fault suite's inboxes file sets a
four-eyes threshold of JPY 1, so a release is always a proposal: the actor sends no case
decision, and the detector's verdicts stay the oracle's.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from withdrawguard.adapters.case_store import RedisCaseStore, case_prefix
from withdrawguard.adapters.kafka_io import kafka_produce
from withdrawguard.adapters.redis_connection import async_redis
from withdrawguard.cases import commands as cmd
from withdrawguard.cases.case import Case
from withdrawguard.cases.errors import CaseError, Conflict
from withdrawguard.cases.people import Actor
from withdrawguard.casework.config import load_case_config
from withdrawguard.casework.service import CaseService, CaseTopics
from withdrawguard.contract import topics as t
from withdrawguard.settings import Settings

STATUSES = ("investigating", "escalated", "investigating", "waiting_on_customer")


class Journal:
    def __init__(self, path: Path) -> None:
        self._fh: TextIO = path.open("a", encoding="utf-8")

    def write(self, line: str) -> None:
        self._fh.write(line + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())


async def main(argv: list[str]) -> int:
    journal, user, role, mode = Journal(Path(argv[0])), argv[1], argv[2], argv[3]
    settings = Settings.from_env()
    redis = async_redis(settings)
    store = RedisCaseStore(redis, case_prefix(settings.app_id))
    names = t.TopicNames(settings)
    topics = CaseTopics(names.name(t.CASE_EVENTS), names.name(t.CASE_DECISIONS))
    actor = Actor(user, "supervisor" if role == "supervisor" else "analyst")
    ids: list[str] = []

    def new_id() -> str:
        ids.append(f"cmd-{user}-{uuid.uuid4().hex[:12]}")
        return ids[-1]

    async with kafka_produce(settings) as produce:
        service = CaseService(
            store,
            produce,
            topics,
            load_case_config(settings.inboxes_file),
            clock=lambda: datetime.now(UTC),
            new_id=new_id,
        )
        if mode == "comment":
            if argv[5:6] == ["pause"]:
                _pause_after_ack(store, journal)
            for _ in range(3):  # changed meanwhile (409): look again, as a person would
                case = await service.case(argv[4])
                try:
                    await _act(service, actor, journal, cmd.Comment, case, note="A note, once.")
                    return 0
                except Conflict as exc:
                    print(f"refused, looking again: {exc}", flush=True)
            return 2
        rng = random.Random(os.getpid())
        while True:
            await _round(service, actor, journal, rng, ids)


async def _round(
    service: CaseService, actor: Actor, journal: Journal, rng: random.Random, ids: list[str]
) -> None:
    try:
        taken = await service.take_next(actor)
    except CaseError:
        taken = None
    if taken is None:
        await asyncio.sleep(0.5)
        return
    journal.write(f"ok {ids[-1]} claimed {taken.case_id}")
    case = taken
    for step in range(rng.randint(2, 5)):
        try:
            case = await service.case(case.case_id)
            if step == 0 or rng.random() < 0.3:
                case = await _act(service, actor, journal, cmd.Comment, case, note=f"step {step}")
            elif rng.random() < 0.5:
                status = rng.choice([s for s in STATUSES if s != case.status])
                case = await _act(service, actor, journal, cmd.ChangeStatus, case, status=status)
            elif case.proposals:
                proposal = case.proposals[0].proposal_id
                case = await _act(
                    service, actor, journal, cmd.Withdraw, case, proposal_id=proposal, note="no"
                )
            else:
                held = [h for h in case.holds if h.fate == "held"]
                if held:
                    note = "The customer called from the number on file."
                    case = await _act(
                        service, actor, journal, cmd.Release, case, hold_id=held[0].hold_id,
                        note=note,
                    )  # fmt: skip
        except CaseError:
            pass  # refused (changed meanwhile, busy): a person would look again


async def _act(
    service: CaseService, actor: Actor, journal: Journal, kind: Any, case: Case, **fields: Any
) -> Case:
    command = kind(
        case_id=case.case_id,
        command_id=service.new_command_id(),
        seen_version=case.version,
        **fields,
    )
    done = await service.execute(actor, command)
    for event in done.events:
        journal.write(f"ok {event.event_id} {event.kind} {event.case_id}")
    return done.case


def _pause_after_ack(store: RedisCaseStore, journal: Journal) -> None:
    """From now on, a write reaches the broker and is acknowledged, then stops for good
    before the store is written: the moment the suite kills the process."""

    async def stuck(events: Any, *args: Any, **kwargs: Any) -> Any:
        for event in events:
            journal.write(f"acked {event.event_id} {event.kind} {event.case_id}")
        await asyncio.Event().wait()

    store.apply = stuck  # type: ignore[method-assign]  # the test hook


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
