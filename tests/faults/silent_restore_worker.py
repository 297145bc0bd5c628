"""Test-only entry point: the real `withdrawguard worker`, whose first table restore
never resumes one of the changelog partitions it has to read, with no error. The restore
then waits for records that never come: the state faust-streaming #176 and #596 describe
(the fault suite saw it once after a takeover: "No event received for active tp" for
minutes). Production has no such hook: this module exists only in the test tree.

    python -m tests.faults.silent_restore_worker
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any

from faust.transport.consumer import Consumer

from withdrawguard.cli import main

log = logging.getLogger("tests.faults.silent_restore_worker")
_resume = Consumer.resume_partitions
_forgotten: list[Any] = []


def forgetful_resume(self: Any, tps: Iterable[Any]) -> None:
    tps = set(tps)
    recovery = self.app.tables.recovery
    if not _forgotten and self.app.in_recovery:
        behind = sorted(
            tp
            for tp in tps
            if tp in recovery.active_highwaters
            and recovery.active_offsets.get(tp, -1) < recovery.active_highwaters[tp]
        )
        if behind:
            _forgotten.append(behind[0])
            tps.discard(behind[0])
            log.warning(
                "fault suite: restore of %s[%d] induced silent (never resumed)",
                behind[0].topic,
                behind[0].partition,
            )
    _resume(self, tps)


if __name__ == "__main__":
    Consumer.resume_partitions = forgetful_resume  # type: ignore[method-assign]
    sys.exit(main(["worker"]))
