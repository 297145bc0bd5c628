"""Broker faults on three brokers, as production runs Kafka: replication factor 3,
min.insync.replicas 2, the worker's producer at acks=all. The partition leader's broker
killed and restarted, a rolling restart, a broker frozen past its session timeout.

They run on the local cluster of `scripts/kafka-cluster.sh` (started through it when it
is not up), not on the single broker of `make up`, and only in `make test-faults`: each
takes minutes. Recovery is from the fault until the groups have committed everything sent
before it; the verdict gap is the longest silence a client reading the verdicts saw.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.faults import cluster
from tests.faults.deployment import wait_gone
from tests.faults.run import FaultRun, fault_run
from withdrawguard.contract import topics as t

pytestmark = [pytest.mark.integration, pytest.mark.faults]

DOWN_SECONDS = 20.0
"""How long the killed broker stays down: its leaderships have moved long before."""
FROZEN_SECONDS = 30.0
"""Past the broker's session with the controllers (broker.session.timeout.ms, 9 s) and
the followers' replica.lag.time.max.ms (30 s): fenced, its leaderships moved."""


@pytest.fixture(scope="module")
def cluster_services() -> Iterator[tuple[str, str]]:
    yield cluster.cluster_services()
    cluster.operate("wait-insync")  # a failed test leaves no node down for the next


def _read_partition_leader(run: FaultRun) -> tuple[int, str]:
    """The node leading a seeded partition of the withdrawals topic the worker reads."""
    topic = t.TopicNames(run.dep.settings).name(t.WITHDRAWALS)
    partition = run.rng.randrange(run.dep.settings.partitions)
    node = cluster.leader_of(run.dep.settings.kafka_bootstrap, topic, partition)
    return node, f"{topic}/{partition}"


def _finish(run: FaultRun) -> None:
    """The invariants, and every topic of the deployment replicated as production needs
    (said in the saved figures' notes either way)."""
    problems = cluster.replication_problems(run.dep.settings)
    run.measure.notes = (
        f"topics: RF {cluster.REPLICATION_FACTOR}, min.insync {cluster.MIN_INSYNC}"
        if not problems
        else f"replication: {problems[:3]}"
    )
    run.finish()
    assert not problems, f"topics not replicated as production needs: {problems[:5]}"


@contextmanager
def _cluster_run(
    services: tuple[str, str], directory: Path, fault: str, events: int, seed: int, seconds: float
) -> Iterator[FaultRun]:
    """A fault run on the cluster (RF 3) with one worker, the load sent over `seconds`
    and flowing for a while before the fault, so the verdict gap shows; after the test's
    faults, the invariants and the replication check, and the worker still alive."""
    with fault_run(services, directory, fault, events, seed, replication_factor=3) as run:
        worker = run.dep.worker("w1")
        worker.start()
        run.start(seconds=seconds)
        run.running(low=10, high=20)
        yield run
        _finish(run)
        assert worker.proc is not None and worker.proc.poll() is None, "the worker died"


def test_the_partition_leaders_broker_killed_and_restarted_loses_no_verdict(
    cluster_services: tuple[str, str], fault_dir: Path, fault_events: int, fault_seed: int
) -> None:
    with _cluster_run(
        cluster_services, fault_dir, "3 brokers: leader SIGKILL", fault_events, fault_seed, 100
    ) as run:
        node, partition = _read_partition_leader(run)
        print(f"killing node {node}, leader of {partition}")

        def kill_leader() -> None:
            pid = cluster.node_pid(node)
            os.kill(pid, signal.SIGKILL)
            wait_gone(pid)

        run.fault(kill_leader)  # recovery on the two brokers left
        time.sleep(max(0.0, DOWN_SECONDS - run.measure.recovery_seconds[-1]))
        run.fault(lambda: cluster.operate("start", str(node)))  # back, in sync, leading again


def test_a_rolling_restart_of_the_three_brokers_under_load_loses_no_verdict(
    cluster_services: tuple[str, str], fault_dir: Path, fault_events: int, fault_seed: int
) -> None:
    with _cluster_run(
        cluster_services, fault_dir, "3 brokers: rolling restart", fault_events, fault_seed, 180
    ) as run:  # the load lasts through the three restarts
        for node in (1, 2, 3):

            def restart(node: int = node) -> None:
                cluster.operate("stop", str(node))  # controlled shutdown: leaderships move
                cluster.operate("start", str(node))  # waits until every partition is in sync

            run.fault(restart)


def test_a_broker_frozen_past_its_session_timeout_and_resumed_loses_no_verdict(
    cluster_services: tuple[str, str], fault_dir: Path, fault_events: int, fault_seed: int
) -> None:
    with _cluster_run(
        cluster_services, fault_dir, "3 brokers: leader SIGSTOP", fault_events, fault_seed, 90
    ) as run:
        node, partition = _read_partition_leader(run)
        print(f"freezing node {node}, leader of {partition}")

        def freeze() -> None:
            pid = cluster.node_pid(node)
            os.kill(pid, signal.SIGSTOP)
            try:
                time.sleep(FROZEN_SECONDS)
            finally:
                os.kill(pid, signal.SIGCONT)
            cluster.operate("wait-insync")

        run.fault(freeze)
