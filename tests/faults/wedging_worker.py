"""Test-only entry point: the real `withdrawguard worker`, which wedges itself on purpose
a while after it has started: from then on the broker's acknowledgement of what a batch
sends never comes, so every agent awaits its batch forever and nothing is committed,
while the worker stays alive (the state the broker SIGKILL fault once left a worker in,
issue 25). The liveness guard must find it and fail `/health`. Production has no such
hook: this module exists only in the test tree.

    python -m tests.faults.wedging_worker
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

from withdrawguard.cli import main
from withdrawguard.contract.records import Record
from withdrawguard.settings import Settings
from withdrawguard.worker import run as worker

log = logging.getLogger("tests.faults.wedging_worker")
WEDGE_AFTER = 8.0
"""Seconds after the first assignment until the worker wedges (it has detected some of the
load by then)."""

_create_app = worker.create_app


def wedging_app(settings: Settings, engine: Any, **options: Any) -> Any:
    detector = _create_app(settings, engine, **options)
    app, pipeline = detector.app, detector.pipeline
    started: list[Any] = []

    async def never_acknowledged(record: Record) -> asyncio.Future[Any]:
        # handed over as sent, never acknowledged: the batch's flush awaits it forever
        return asyncio.get_running_loop().create_future()

    async def wedge() -> None:
        await asyncio.sleep(WEDGE_AFTER)
        pipeline.produce = never_acknowledged
        log.warning("fault suite: induced wedge: no batch is acknowledged from now on")

    async def on_assigned(sender: Any, *args: Any, **kwargs: Any) -> None:
        if not started:
            started.append(app.add_future(wedge()))

    app.on_partitions_assigned.connect(on_assigned)
    return detector


if __name__ == "__main__":
    worker.create_app = wedging_app  # type: ignore[assignment]  # run_worker builds this app
    sys.exit(main(["worker"]))
