"""The worker killed, stopped, paused, or failing on one event, mid-stream."""

from __future__ import annotations

import json
import os
import re
import signal
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from tests.faults.run import fault_run
from tests.integration.harness import Worker

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def test_worker_killed_five_times_mid_stream_loses_no_verdict(
    services: tuple[str, str], fault_dir: Path, fault_events: int, fault_seed: int
) -> None:
    with fault_run(services, fault_dir, "SIGKILL x5", fault_events, fault_seed) as run:
        worker = run.dep.worker("w1")
        worker.start()
        run.start(seconds=75)
        for _ in range(5):
            run.running()

            def kill_and_restart() -> None:
                worker.stop(signal.SIGKILL)
                worker.start(timeout=180)

            run.fault(kill_and_restart)
        run.finish()


def test_worker_stopped_gracefully_mid_stream_loses_no_verdict(
    services: tuple[str, str], fault_dir: Path, fault_events: int, fault_seed: int
) -> None:
    with fault_run(services, fault_dir, "SIGTERM", fault_events, fault_seed) as run:
        worker = run.dep.worker("w1")
        worker.start()
        run.start(seconds=20)
        run.running()

        def stop_and_restart() -> None:
            worker.stop(signal.SIGTERM)
            assert worker.proc is not None
            assert worker.proc.returncode is not None and worker.proc.returncode <= 0
            worker.start(timeout=180)

        run.fault(stop_and_restart)
        run.finish()


def test_worker_paused_past_the_session_timeout_resumes_without_loss(
    services: tuple[str, str], fault_dir: Path, fault_events: int, fault_seed: int
) -> None:
    with fault_run(services, fault_dir, "SIGSTOP", fault_events, fault_seed) as run:
        worker = run.dep.worker("w1")
        worker.start()
        run.start(seconds=45)
        run.running()

        def pause_and_resume() -> None:
            assert worker.proc is not None
            os.kill(worker.proc.pid, signal.SIGSTOP)
            # the group coordinator evicts it meanwhile (the deployment's session timeout)
            time.sleep(run.dep.settings.kafka_session_timeout * 3)
            os.kill(worker.proc.pid, signal.SIGCONT)

        run.fault(pause_and_resume)
        assert worker.proc is not None and worker.proc.poll() is None, "the worker died"
        run.finish()


STALL_SECONDS = 20
"""The stall guards' WG_STALL_SECONDS in the two tests of them: a third of the default, so
the tests wait 40 s less each for what they check."""


@pytest.mark.fault_smoke
def test_an_event_whose_processing_raises_is_dead_lettered_and_the_stream_goes_on(
    services: tuple[str, str], fault_dir: Path, fault_events: int, fault_seed: int
) -> None:
    with fault_run(services, fault_dir, "processing raises", fault_events, fault_seed) as run:
        # One event of an attack (the e-mail change of a chain) and one honest login,
        # both in the first half of the load: everything after them must still flow.
        half = run.load.messages[: len(run.load.messages) // 2]
        ids = [b.get("event_id", "") for _, b in half]
        chain_change = run.rng.choice([i for i in ids if i.endswith("-c-email")])
        login = run.rng.choice([b["event_id"] for tp, b in half if tp == "logins"])
        poisoned = frozenset({chain_change, login})
        worker = run.dep.worker("w1")
        worker.command = ("-m", "tests.faults.poison_worker", *sorted(poisoned))
        worker.start()
        run.start(seconds=20)
        run.finish(leave_out=poisoned)
        dead = [r.value.decode() for r in run.dep.collector.of("dead-letters")]
        for event_id in poisoned:
            [letter] = [d for d in dead if event_id in d]
            assert "processing failed: RuntimeError: injected failure" in letter
        assert len(dead) == len(poisoned)


@pytest.mark.fault_smoke
def test_a_partition_the_consumer_stops_fetching_is_found_and_resumed(
    services: tuple[str, str], fault_dir: Path, fault_events: int, fault_seed: int
) -> None:
    with fault_run(services, fault_dir, "stalled partition", fault_events, fault_seed) as run:
        worker = run.dep.worker("w1")
        worker.settings = replace(worker.settings, stall_seconds=STALL_SECONDS)
        worker.command = ("-m", "tests.faults.stalling_worker")
        worker.start()
        run.start(seconds=30)

        def stall_induced() -> None:  # the worker stalls a partition by itself, soon
            deadline = time.monotonic() + 60
            while "induced stall of" not in worker.log_path.read_text():
                assert time.monotonic() < deadline, "the worker never stalled a partition"
                time.sleep(0.2)

        run.fault(stall_induced)  # recovery: until the guard kicked it and it caught up
        run.finish()
        log = worker.log_path.read_text()
        [induced] = [line for line in log.splitlines() if "induced stall of" in line]
        stalled = induced.rsplit("induced stall of ", 1)[1].strip()
        kicked = [line for line in log.splitlines() if "has not moved for" in line]
        assert kicked, "the stall guard never found the stalled partition"
        assert kicked[0].split("partition ", 1)[1].startswith(stalled + " ")


@pytest.mark.fault_smoke
def test_a_table_restore_that_receives_nothing_is_found_and_resumed(
    services: tuple[str, str], fault_dir: Path, fault_events: int, fault_seed: int
) -> None:
    with fault_run(services, fault_dir, "silent table restore", fault_events, fault_seed) as run:
        first = run.dep.worker("w1")
        first.start()
        run.start(seconds=40)
        run.running()  # the first worker has written its tables' changelogs
        fresh = run.dep.worker("w2")  # an empty data dir: every table is restored

        def replace_the_worker() -> None:
            first.stop(signal.SIGKILL)
            fresh.command = ("-m", "tests.faults.silent_restore_worker")
            fresh.settings = replace(fresh.settings, stall_seconds=STALL_SECONDS)
            fresh.start(timeout=240)  # ready once its restore is complete

        run.fault(replace_the_worker)  # recovery: the guard resumed it, it caught up
        run.finish()
        log = fresh.log_path.read_text()
        [induced] = [line for line in log.splitlines() if "induced silent" in line]
        silent = induced.split("restore of ", 1)[1].split(" ", 1)[0]
        kicked = [line for line in log.splitlines() if "has received nothing for" in line]
        assert kicked, "the restore guard never found the silent changelog partition"
        assert f"from {silent};" in kicked[0], kicked[0]  # exactly the silent partition


WEDGE_SECONDS = 20
"""The wedged worker's WG_WEDGE_SECONDS: short, so the test is."""


def _health(worker: Worker) -> tuple[int, dict[str, object]]:
    url = f"http://127.0.0.1:{worker.settings.web_port}/health"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.fault_smoke
def test_a_wedged_worker_fails_its_liveness_probe_and_its_restart_loses_nothing(
    services: tuple[str, str], fault_dir: Path, fault_events: int, fault_seed: int
) -> None:
    with fault_run(services, fault_dir, "wedged worker", fault_events, fault_seed) as run:
        worker = run.dep.worker("w1")
        worker.settings = replace(worker.settings, wedge_seconds=WEDGE_SECONDS)
        worker.command = ("-m", "tests.faults.wedging_worker")
        worker.start()
        run.start(seconds=40)
        assert _health(worker)[0] == 200

        def liveness_probe_restarts_it() -> None:
            # the worker wedges by itself soon; /health is what the kubelet asks
            deadline = time.monotonic() + WEDGE_SECONDS + 60
            status, body = _health(worker)
            while status == 200:
                assert time.monotonic() < deadline, "/health never reported the wedge"
                time.sleep(1)
                status, body = _health(worker)
            assert status == 503, body
            assert "the worker is wedged" in str(body["reason"]), body
            assert worker.proc is not None and worker.proc.poll() is None  # alive, not live
            worker.stop(signal.SIGKILL)  # as the kubelet does after its failure threshold
            worker.command = ("-m", "withdrawguard", "worker")
            worker.start(timeout=180)

        run.fault(liveness_probe_restarts_it)
        run.finish()
        assert _health(worker) == (200, {"status": "ok"})
        log = worker.log_path.read_text()
        assert "induced wedge" in log
        [wedge] = [line for line in log.splitlines() if "the worker is wedged" in line]
        assert wedge.endswith("What each agent awaits:")
        said = log.split(wedge, 1)[1].split("Worker state:", 1)[0]
        # the agent that took the first batch after the wedge says what it awaits
        assert re.search(r"agent [a-z-]+: the broker's acknowledgement of \d+ records", said), said
