"""Case work under kills: a worker killed while its intake sink opens and joins cases, and
people's case actions killed mid-write, lose no case event and write none twice.

Under a load with attacks (their holds open cases), a supervisor (who may work every
inbox) works cases in a loop through the real CaseService (`case_actor.py`) while:
- the worker's intake stops between the broker's acknowledgement of a case's events and
  the store write (`case_pausing_worker.py`) and is SIGKILLed there;
- the worker and the person are SIGKILLed at seeded random moments;
- a person's comment is acknowledged by the broker and the person is SIGKILLed before the
  store write, while the worker (whose projection would repair the store) is stopped;
  once the customer's lock has expired, another comment on the same case must follow
  the first in the store as in the topic.
Then `case_checks.check_cases` and the suite's invariants (`invariants.check_all`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from tests.faults.case_checks import check_cases, hold_ids, wait_case_sinks
from tests.faults.deployment import Deployment
from tests.faults.run import FaultRun, fault_run
from tests.integration.harness import ROOT, env_of
from withdrawguard.adapters.case_store import CaseKeys, case_prefix
from withdrawguard.casework.service import LOCK_TTL_MS

pytestmark = [pytest.mark.integration, pytest.mark.faults]

PACKAGED_INBOXES = ROOT / "src" / "withdrawguard" / "cases" / "inboxes.toml"


def _inboxes_file(directory: Path) -> Path:
    """The packaged inboxes with a four-eyes threshold of JPY 1: every release the
    actor makes is a proposal, so no case decision changes the detector's verdicts."""
    path = directory / "inboxes.toml"
    path.write_text(
        PACKAGED_INBOXES.read_text(encoding="utf-8")
        + '\n[cases.four_eyes_release_at]\nJPY = "1"\n',
        encoding="utf-8",
    )
    return path


class Person:
    """A `case_actor` process of the deployment, journalling what it was told."""

    def __init__(self, dep: Deployment, user: str, *args: str) -> None:
        self.dep, self.user, self.args = dep, user, args
        self.journal = dep.directory / f"{user}.journal"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with (self.dep.directory / f"{self.user}.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.faults.case_actor",
                    str(self.journal),
                    self.user,
                    *self.args,
                ],
                env=env_of(self.dep.settings),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def lines(self, kind: str) -> list[list[str]]:
        if not self.journal.exists():
            return []
        text = self.journal.read_text(encoding="utf-8")
        return [line.split() for line in text.splitlines() if line.startswith(kind + " ")]

    def wait_for(self, kind: str, bound: float) -> list[list[str]]:
        deadline = time.monotonic() + bound
        while not self.lines(kind):
            assert self.proc is not None
            assert self.proc.poll() is None, f"{self.user} exited with {self.proc.returncode}"
            assert time.monotonic() < deadline, f"{self.user} journalled no {kind!r}"
            time.sleep(0.2)
        return self.lines(kind)


def _wait_for_log(path: Path, text: str, bound: float) -> None:
    deadline = time.monotonic() + bound
    while text not in path.read_text(encoding="utf-8", errors="replace"):
        assert time.monotonic() < deadline, f"{path.name} never said {text!r}"
        time.sleep(0.2)


def _cases_stored(dep: Deployment) -> int:
    r = redis.Redis.from_url(dep.settings.redis_url)
    return int(r.zcard(CaseKeys(case_prefix(dep.settings.app_id)).all))


def _kills(run: FaultRun, random_kills: int) -> None:
    dep = run.dep
    worker = dep.worker("w1")
    worker.command = ("-m", "tests.faults.case_pausing_worker")
    worker.start()
    run.start(seconds=30 + 30 * random_kills)
    people = [Person(dep, "fault-lead", "supervisor", "loop")]
    people[0].start()

    def kill_intake_after_ack() -> None:  # (a) the intake stops after the ack: kill it there
        _wait_for_log(worker.log_path, "induced pause after the acknowledgement of", 120)
        worker.stop(signal.SIGKILL)
        worker.command = ("-m", "withdrawguard", "worker")
        worker.start(timeout=180)

    run.fault(kill_intake_after_ack)
    for _ in range(random_kills):  # the worker and the person, at random moments
        run.running()
        people[-1].kill()
        people.append(Person(dep, f"fault-lead-{len(people)}", "supervisor", "loop"))
        people[-1].start()
        run.running(1.0, 3.0)

        def kill_and_restart() -> None:
            worker.stop(signal.SIGKILL)
            worker.start(timeout=180)

        run.fault(kill_and_restart)
    people[-1].wait_for("ok", 120)  # it has claimed a case at least
    run.running()
    people[-1].kill()
    claimed = people[-1].lines("ok")[0][3]

    # (b) a person's comment acknowledged, not stored, the worker's projection stopped
    def comment_killed_after_ack() -> None:
        assert worker.proc is not None
        os.kill(worker.proc.pid, signal.SIGSTOP)
        try:
            first = Person(dep, "fault-paused", "supervisor", "comment", claimed, "pause")
            first.start()
            first.wait_for("acked", 60)
            first.kill()
            time.sleep(LOCK_TTL_MS / 1000 + 1)  # the dead person's lock expires
            second = Person(dep, "fault-other", "supervisor", "comment", claimed)
            second.start()
            assert second.proc is not None
            assert second.proc.wait(timeout=60) == 0, "the second comment failed"
            people.append(second)
        finally:
            os.kill(worker.proc.pid, signal.SIGCONT)

    run.fault(comment_killed_after_ack)
    assert _cases_stored(dep) > 0
    run.finish()
    print(f"\ncase sinks caught up {wait_case_sinks(dep, 300):.1f} s after the drain")
    succeeded = [line[1] for p in people for line in p.lines("ok")]
    figures = check_cases(dep, succeeded, hold_ids(dep))
    print(f"\nCASES {figures}")
    assert figures.actions > 0 and figures.cases > 0


@pytest.mark.fault_smoke
def test_a_worker_and_a_person_killed_mid_case_write_lose_no_case_event_and_repeat_none(
    services: tuple[str, str], fault_dir: Path, fault_events: int, fault_seed: int
) -> None:
    inboxes = _inboxes_file(fault_dir)
    with fault_run(
        services, fault_dir, "case SIGKILL", fault_events, fault_seed, inboxes_file=inboxes
    ) as run:
        _kills(run, random_kills=1)


def test_case_work_through_five_worker_kills_loses_no_case_event_and_repeats_none(
    services: tuple[str, str], fault_dir: Path, fault_events: int, fault_seed: int
) -> None:
    inboxes = _inboxes_file(fault_dir)
    with fault_run(
        services, fault_dir, "case SIGKILL x5", fault_events, fault_seed, inboxes_file=inboxes
    ) as run:
        _kills(run, random_kills=4)
