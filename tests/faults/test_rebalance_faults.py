"""Rebalances under load while the first worker's stream buffers are full and its flow
control is held (issue 29): a second worker joins and leaves again and again. The drain
loop of `streaming/faust_internals/drain.py` takes the interruptible wait only when a
hand-over could wait; here they often can, and each rebalance must still interrupt them.
Every withdrawal has its verdict once, no event is handed to an agent (or finished by
one) after its worker gave the partition up, and the invariants of every fault hold."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest

from tests.faults import rebalance_worker as rw
from tests.faults.conftest import CI_EVENTS
from tests.faults.invariants import by_withdrawal, repeats
from tests.faults.run import fault_run
from tests.integration.harness import Worker
from withdrawguard.contract import topics as t

pytestmark = [pytest.mark.integration, pytest.mark.faults]

FIGURES = re.compile(
    re.escape(rw.STATS)
    + r": pid=(\d+) could_wait=(\d+) interrupted=(\d+) checked=(\d+) violations=(\d+)"
)


def last_figures(worker: Worker) -> dict[str, int]:
    """The last figures each process of `worker` logged, summed over its processes."""
    last = {pid: rest for pid, *rest in FIGURES.findall(worker.log_path.read_text())}
    keys = ("could_wait", "interrupted", "checked", "violations")
    return {k: sum(int(rest[i]) for rest in last.values()) for i, k in enumerate(keys)}


def joins_and_leaves(
    cycles: int, events: int, seed: int, services: tuple[str, str], d: Path
) -> None:
    with fault_run(services, d, f"join+leave x{cycles}", events, seed) as run:
        first, second = run.dep.worker("w1"), run.dep.worker("w2")
        for w in (first, second):
            w.command = ("-m", "tests.faults.rebalance_worker")
        first.start()
        run.start(seconds=20 * cycles)
        started, faults = time.monotonic(), []
        for _ in range(cycles):
            run.running(low=2, high=5)  # the first worker's buffers fill meanwhile
            faults.append(("join", round(time.monotonic() - started, 1)))
            run.fault(lambda: second.start(timeout=180))  # joins: a rebalance
            run.running(low=2, high=5)
            faults.append(("leave", round(time.monotonic() - started, 1)))
            run.fault(lambda: second.stop(signal.SIGTERM))  # leaves: another
        run.finish()
        assert first.proc is not None and first.proc.poll() is None, "the first worker died"
        first.stop(signal.SIGTERM)  # its last figures
        figures = {w.log_path.name: last_figures(w) for w in (first, second)}
        verdicts = by_withdrawal(run.dep.collector.of(t.WITHDRAWAL_DECISIONS))
        identical, conflicting, _ = repeats(verdicts)
        repeated = {
            w: [(r.partition, r.offset, round(r.seen_at - started, 1)) for r in recs]
            for w, recs in verdicts.items()
            if len({r.value for r in recs}) < len(recs)
        }
        print(f"drain figures by worker: {figures}; faults at {faults}")
        print(f"repeated verdicts (partition, offset, seen at): {repeated}")
        violations = [
            line for w in (first, second) for line in w.log_path.read_text().splitlines()
            if rw.VIOLATION in line
        ]  # fmt: skip
        assert violations == []
        assert (identical, conflicting) == (0, []), f"verdicts sent more than once: {repeated}"
        assert figures[first.log_path.name]["checked"] > 0
        # the point of the test: hand-overs that could wait, and rebalances ending waits
        assert figures[first.log_path.name]["could_wait"] > 0


@pytest.mark.fault_smoke
def test_a_worker_joining_and_leaving_while_buffers_are_full_loses_and_repeats_no_verdict(
    services: tuple[str, str], fault_dir: Path, fault_events: int, fault_seed: int
) -> None:
    # `make test`'s smoke size: one join and one leave (two rebalances, each ending the
    # waits of full buffers); the fault suite's full size: three of each
    joins_and_leaves(
        1 if fault_events <= CI_EVENTS else 3, fault_events, fault_seed, services, fault_dir
    )
