"""Test deployments leave the broker when their tests pass (tests/broker_cleanup.py): each
case runs a small pytest session of its own, on the real broker, and looks at the broker
afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import broker_cleanup
from tests.integration.harness import ROOT

pytestmark = pytest.mark.integration

INNER = '''
import json
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from tests.integration.harness import isolated_settings, services

OUT = Path(__file__).parent / "made.jsonl"


def make(services, name, tmp):
    """A deployment with topics (inputs, outputs, internal, Faust's changelogs) and the
    detector's and the registry sink's consumer groups, as a worker leaves them."""
    s = isolated_settings(services, name, tmp)
    for group in (s.app_id, f"{s.app_id}-registry"):
        c = KafkaConsumer(bootstrap_servers=s.kafka_bootstrap, group_id=group,
                          enable_auto_commit=False)
        c.commit({TopicPartition(s.topic_prefix + "withdrawals", 0): OffsetAndMetadata(0, "", -1)})
        c.close()
    with OUT.open("a") as f:
        f.write(json.dumps([name, s.app_id, s.topic_prefix]) + "\\n")
    return s


@pytest.fixture(scope="module")
def shared(services, tmp_path_factory):
    return make(services, "shared", tmp_path_factory.mktemp("shared"))


def test_passes(services, tmp_path):
    make(services, "passes", tmp_path)


def test_fails(services, tmp_path):
    make(services, "fails", tmp_path)
    assert False, "failed on purpose"


def test_uses_shared_and_passes(shared):
    pass


def test_uses_shared_and_fails_if_asked(shared, request):
    assert "fails" not in request.config.getoption("keyword"), "failed on purpose"
'''


def run_session(d: Path, services: tuple[str, str], keep: int, select: str) -> list[list[str]]:
    """A pytest session of the tests above with `-k select`, the ledger in `d`; the
    deployments it made, (test name, app id, topic prefix)."""
    (d / "test_inner.py").write_text(INNER, encoding="utf-8")
    made = d / "made.jsonl"
    made.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WG_")}
    env |= {"WG_KAFKA_BOOTSTRAP": services[0], "WG_REDIS_URL": services[1]}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", str(d / "test_inner.py"), "-q", "-s",
            "-p", "tests.broker_cleanup", "-p", "no:cacheprovider", "--rootdir", str(d),
            "-c", os.devnull, "-o", f"kept_deployments={d / 'kept.json'}",
            "-o", f"keep_failed_deployments={keep}", "-k", select,
        ],
        cwd=d, env=env, capture_output=True, text=True, timeout=150, check=False,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stdout + result.stderr  # 1: tests failed
    return [json.loads(line) for line in made.read_text().splitlines()]


def on_broker(services: tuple[str, str], app_id: str, prefix: str) -> tuple[list[str], list[str]]:
    return broker_cleanup.on_broker(services[0], app_id, prefix)


def test_a_passing_tests_deployment_leaves_no_topic_or_group_behind(
    services: tuple[str, str], tmp_path: Path
) -> None:
    made = run_session(tmp_path, services, keep=5, select="passes or shared_and_passes")
    assert sorted(m[0] for m in made) == ["passes", "shared"]
    for _, app_id, prefix in made:
        assert on_broker(services, app_id, prefix) == ([], [])
    assert json.loads((tmp_path / "kept.json").read_text()) == []


def test_a_failing_tests_deployment_is_kept_and_only_the_newest_kept_stay(
    services: tuple[str, str], tmp_path: Path
) -> None:
    kept = []
    try:
        # a failed test keeps its own deployment; a failed user of a module fixture keeps it
        first = run_session(tmp_path, services, keep=1, select="test_fails or shared")
        kept = [m for m in first if m[0] in ("fails", "shared")]
        assert len(kept) == 2
        for _, app_id, prefix in kept:
            topics, groups = on_broker(services, app_id, prefix)
            assert f"{prefix}withdrawals" in topics
            assert f"{app_id}-customers-changelog" in topics
            assert groups == [app_id, f"{app_id}-registry"]
        ledger = json.loads((tmp_path / "kept.json").read_text())
        assert sorted(e["app_id"] for e in ledger) == sorted(m[1] for m in kept)
        assert all(e["pid"] is None for e in ledger)
        # the next session keeps only the newest one (keep=1): deleted when it starts
        run_session(tmp_path, services, keep=1, select="test_passes")
        newest = max(ledger, key=lambda e: e["made"])
        for _, app_id, prefix in kept:
            left = on_broker(services, app_id, prefix)
            assert (left != ([], [])) == (app_id == newest["app_id"]), (app_id, left)
        after = json.loads((tmp_path / "kept.json").read_text())
        assert [e["app_id"] for e in after] == [newest["app_id"]]
    finally:
        for _, app_id, prefix in kept:  # this test's own deployments go when it is done
            broker_cleanup.remove(services[0], app_id, prefix)
