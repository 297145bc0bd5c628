"""One fault run: load, deployment, workers, the paced producer, faults at seeded
moments, then the drain, the oracle and the invariants. Tests say only which fault."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.faults.deployment import Deployment, deployment
from tests.faults.invariants import SUITE_LOGS, Measure, check_all
from tests.faults.load import Load, build
from tests.faults.oracle import expected_verdicts
from tests.integration.harness import Worker
from withdrawguard.contract import topics as t

RATE = 250.0
"""Input messages a second at most: below what one worker keeps up with on the shared
2-core machine (about 315 a second measured with a backlog), so that without a fault the
lag stays near zero and a fault's recovery shows."""
RECOVERY_BOUND = 240.0
"""Seconds a fault may take from its start until everything sent before it is committed."""
DRAIN_BOUND = 600.0
"""Seconds after the last message is sent until the group's lag is zero."""
DIGEST_FROM = 20_000
"""From this load on, the webhook channel is limited to 30 alerts a minute, so faults also
hit alerts held for a digest. A smaller load (`make test`'s 6,000) has no limit: its 75
holds' alerts come within a minute, and the drain would wait up to a minute for the
digest in every test (73 s against 38 s for the poison test here)."""


@dataclass
class FaultRun:
    load: Load
    dep: Deployment
    measure: Measure
    rng: random.Random
    now: datetime
    producer: threading.Thread | None = None
    workers: list[Worker] = field(default_factory=list)

    def start(self, seconds: float) -> None:
        """Send the load over at least `seconds` (at most RATE messages a second), so
        that the faults the test plans in that time all happen mid-stream."""
        rate = min(RATE, len(self.load.messages) / seconds)
        self.producer = self.dep.produce(self.load, rate)

    def running(self, low: float = 2.0, high: float = 6.0) -> None:
        """Let the stream run a seeded random while: the fault comes at a random moment."""
        time.sleep(self.rng.uniform(low, high))

    def fault(self, act: Callable[[], None], *, bound: float = RECOVERY_BOUND) -> float:
        """Run `act` (the fault and whatever restores service); recovery is from its start
        until the group has committed every message that existed when it started. The
        verdict gap is the longest silence between two verdicts the collector received
        from just before the fault until recovery."""
        assert self.producer is not None
        if self.producer.is_alive():
            self.measure.mid_stream += 1
        ends = self.dep.ends()
        started = time.monotonic()
        act()
        took = self.dep.caught_up(ends, bound, f"{self.measure.fault}: recovery", since=started)
        self.measure.recovery_seconds.append(round(took, 1))
        gap = self.dep.collector.longest_gap(t.WITHDRAWAL_DECISIONS, started, started + took)
        self.measure.verdict_gap_seconds.append(round(gap, 1))
        return took

    def finish(self, leave_out: frozenset[str] = frozenset(), work: Path | None = None) -> None:
        """Drain, run the oracle (without `leave_out`), check every invariant."""
        assert self.producer is not None
        self.dep.drained(self.producer, DRAIN_BOUND)
        oracle_dir = (work or self.dep.directory) / "oracle"
        expected = expected_verdicts(self.load, self.dep.settings, oracle_dir, self.now, leave_out)
        check_all(self.dep, self.load, expected, self.measure, leave_out)


@contextmanager
def fault_run(
    services: tuple[str, str],
    directory: Path,
    fault: str,
    events: int,
    seed: int,
    **changes: Any,
) -> Iterator[FaultRun]:
    now = datetime.now(UTC).replace(microsecond=0)
    load = build(events, seed, now)
    name = "".join(c for c in fault.lower() if c.isalnum())[:12]
    rate = 30 if events >= DIGEST_FROM else 0
    with deployment(services, name, directory, notify_rate=rate, **changes) as dep:
        try:
            standbys = dep.settings.table_standby_replicas
            measure = Measure(fault, len(load.messages), standby_replicas=standbys)
            yield FaultRun(load, dep, measure, random.Random(seed), now)
        finally:
            SUITE_LOGS.extend((path, load) for path in dep.logs)
