"""Test-only entry point: the real `withdrawguard worker`, whose engine raises on the
event ids given as arguments. Production has no such hook: this module exists only in
the test tree and is started only by the fault suite.

    python -m tests.faults.poison_worker EVENT_ID [EVENT_ID ...]
"""

from __future__ import annotations

import sys

from withdrawguard.cli import main
from withdrawguard.engine.decide import Engine
from withdrawguard.engine.events import CustomerEvent
from withdrawguard.engine.outputs import Outcome
from withdrawguard.engine.state import CustomerState
from withdrawguard.worker import run as worker


class PoisonedEngine(Engine):
    poisoned: frozenset[str] = frozenset()

    def apply(self, state: CustomerState, event: CustomerEvent) -> Outcome:
        if event.event_id in self.poisoned:
            raise RuntimeError(f"injected failure (fault suite) on event {event.event_id}")
        return super().apply(state, event)


if __name__ == "__main__":
    PoisonedEngine.poisoned = frozenset(sys.argv[1:])
    sys.argv = sys.argv[:1]
    worker.Engine = PoisonedEngine  # type: ignore[misc]  # run_worker builds this engine
    sys.exit(main(["worker"]))
