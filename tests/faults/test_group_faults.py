"""Two workers in one group; one is killed and the other takes over its partitions,
recovering their tables from the changelog topics."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.faults.run import fault_run

pytestmark = [pytest.mark.integration, pytest.mark.faults]


@pytest.mark.fault_smoke
def test_the_surviving_worker_takes_over_a_killed_workers_partitions_and_tables(
    services: tuple[str, str], fault_dir: Path, fault_events: int, fault_seed: int
) -> None:
    with fault_run(services, fault_dir, "2 workers, 1 SIGKILL", fault_events, fault_seed) as run:
        first, second = run.dep.worker("w1"), run.dep.worker("w2")
        first.start()
        second.start(timeout=180)  # ready: partitions split between the two, tables recovered
        run.start(seconds=45)
        run.running(low=8, high=15)  # both have built state of their own customers

        def kill_one() -> None:
            second.stop(signal.SIGKILL)  # never restarted: the first must do its work

        run.fault(kill_one)
        run.finish()
        assert first.proc is not None and first.proc.poll() is None, "the survivor died"


@pytest.mark.fault_smoke
def test_inputs_fetched_while_a_restore_hands_over_to_the_streams_are_not_lost(
    services: tuple[str, str], fault_dir: Path, fault_events: int, fault_seed: int
) -> None:
    """The takeover again, with the survivor's seek after its restore held until input
    records are in its agents' queues (`slow_seek_worker`): the window in which Faust
    used to drop them (`streaming/faust_internals/recovery.py`). Only a worker that is already
    running has its fetcher on at that moment, hence two workers. It also catches
    records discarded on a partition the killed worker never committed, which aiokafka's
    seek to the committed offsets used to skip (`streaming/faust_internals/transport.py`)."""
    with fault_run(services, fault_dir, "restore handover", fault_events, fault_seed) as run:
        survivor, second = run.dep.worker("w1"), run.dep.worker("w2")
        survivor.command = ("-m", "tests.faults.slow_seek_worker")
        survivor.start()
        second.start(timeout=180)
        run.start(seconds=45)
        run.running(low=8, high=15)

        def kill_one() -> None:
            second.stop(signal.SIGKILL)  # its partitions pile up until the session expires

        run.fault(kill_one)
        run.finish()
        held = [line for line in survivor.log_path.read_text().splitlines() if "held until" in line]
        # the survivor's seeks: at its start, when the second joined, after the takeover
        assert len(held) >= 3, held
