"""The broker killed and restarted, Redis stopped and restarted, mid-stream.

Both act on the local stack of this worktree (`make up` with WG_STACK=local): the
processes are found by the pid files `scripts/stack.sh` writes, and `scripts/stack.sh
up` starts them again, as an operator would.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.faults.deployment import stack_pid, stack_up, wait_gone
from tests.faults.run import fault_run

pytestmark = [pytest.mark.integration, pytest.mark.faults]

# The issue asks for a minute; the registry test reads the same variable.
REDIS_OUTAGE_SECONDS = float(os.environ.get("WG_TEST_REDIS_OUTAGE_SECONDS", "60"))
# How long the broker stays down after its SIGKILL (issue 25 asks for 5 s and for 30 s).
BROKER_DOWN_SECONDS = float(os.environ.get("WG_FAULT_BROKER_DOWN_SECONDS", "5"))


def test_broker_killed_and_restarted_mid_stream_loses_no_verdict(
    services: tuple[str, str], fault_dir: Path, fault_events: int, fault_seed: int
) -> None:
    fault = "broker SIGKILL"
    if BROKER_DOWN_SECONDS != 5:
        fault += f" (down {BROKER_DOWN_SECONDS:g} s)"
    with fault_run(services, fault_dir, fault, fault_events, fault_seed) as run:
        worker = run.dep.worker("w1")
        worker.start()
        run.start(seconds=45)
        run.running()

        def kill_broker() -> None:
            pid = stack_pid("kafka")
            os.kill(pid, signal.SIGKILL)
            wait_gone(pid)
            time.sleep(BROKER_DOWN_SECONDS)
            stack_up()

        run.fault(kill_broker)
        run.finish()
        assert worker.proc is not None and worker.proc.poll() is None, "the worker died"


def test_redis_stopped_a_minute_mid_stream_and_the_registry_catches_up(
    services: tuple[str, str], fault_dir: Path, fault_events: int, fault_seed: int
) -> None:
    with fault_run(services, fault_dir, "Redis down 60 s", fault_events, fault_seed) as run:
        worker = run.dep.worker("w1")
        worker.start()
        run.start(seconds=REDIS_OUTAGE_SECONDS + 20)
        run.running()

        def stop_redis() -> None:
            pid = stack_pid("redis")
            os.kill(pid, signal.SIGTERM)  # redis-server saves and exits, as `stack.sh down`
            wait_gone(pid)
            time.sleep(REDIS_OUTAGE_SECONDS)
            stack_up()

        run.fault(stop_redis)
        run.finish()  # the registry equals the projection of the topics: it caught up
        assert worker.proc is not None and worker.proc.poll() is None, "the worker died"
