"""Test-only entry point: the real `withdrawguard worker`, whose Faust consumer is made to
stop fetching one of its `logins` partitions soon after it starts, with no error: the
state faust-streaming #629 describes after a rebalance (the fault suite saw it once after
a takeover). Production has no such hook: this module exists only in the test tree.

    python -m tests.faults.stalling_worker
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from withdrawguard.cli import main
from withdrawguard.contract.topics import LOGINS, TopicNames
from withdrawguard.settings import Settings
from withdrawguard.worker import run as worker

log = logging.getLogger("tests.faults.stalling_worker")
STALL_CHECK = 5.0
"""Seconds between looks for an assigned `logins` partition to stall."""

_create_app = worker.create_app


def stalling_app(settings: Settings, engine: Any, **options: Any) -> Any:
    detector = _create_app(settings, engine, **options)
    app = detector.app
    topic = TopicNames(settings).name(LOGINS)
    stalled: list[Any] = []

    async def stall_one() -> None:
        if stalled or app.rebalancing:
            return
        mine = sorted(tp for tp in app.consumer.assignment() if tp.topic == topic)
        if mine:
            # Faust stops fetching a partition it believes paused; nothing resumes it.
            app.consumer.pause_partitions({mine[0]})
            stalled.append(mine[0])
            log.warning("fault suite: induced stall of %s[%d]", mine[0].topic, mine[0].partition)

    app.timer(STALL_CHECK, name="tests.faults.stall_one")(stall_one)
    return detector


if __name__ == "__main__":
    worker.create_app = stalling_app  # type: ignore[assignment]  # run_worker builds this app
    sys.exit(main(["worker"]))
