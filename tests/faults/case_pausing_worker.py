"""Test-only entry point: the real `withdrawguard worker`, whose case intake stops for
good once, between the broker's acknowledgement of a case's events and the case store
write, after it has opened or joined PAUSE_AFTER cases: the moment the fault suite kills
it. Logs `induced pause after the acknowledgement of <event ids>`. The detector and the
projection sink go on meanwhile. Production has no such hook: this module exists only
in the test tree.

    python -m tests.faults.case_pausing_worker
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
from collections.abc import Sequence
from typing import Any

from withdrawguard.adapters.case_store import RedisCaseStore
from withdrawguard.cases.events import CaseEvent, Trigger
from withdrawguard.casework.service import CaseService
from withdrawguard.cli import main

log = logging.getLogger("tests.faults.case_pausing_worker")
PAUSE_AFTER = 5
"""Intake writes that go through before the one that stops."""

_in_intake: contextvars.ContextVar[bool] = contextvars.ContextVar("in_intake", default=False)
_writes: list[str] = []
_intake = CaseService.intake
_apply = RedisCaseStore.apply


async def intake(self: CaseService, customer_id: str, news: Trigger) -> list[CaseEvent]:
    token = _in_intake.set(True)
    try:
        return await _intake(self, customer_id, news)
    finally:
        _in_intake.reset(token)


async def apply(self: RedisCaseStore, events: Sequence[CaseEvent], *a: Any, **kw: Any) -> Any:
    if _in_intake.get():
        _writes.append(events[0].event_id)
        if len(_writes) == PAUSE_AFTER + 1:
            ids = " ".join(e.event_id for e in events)
            log.warning("fault suite: induced pause after the acknowledgement of %s", ids)
            await asyncio.Event().wait()
    return await _apply(self, events, *a, **kw)


if __name__ == "__main__":
    CaseService.intake = intake  # type: ignore[method-assign]  # the test hook
    RedisCaseStore.apply = apply  # type: ignore[method-assign]
    sys.exit(main(["worker"]))
