"""State survives a worker crash: rebuilt from the changelog, not from local disk."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.harness import Bus, Worker, unique
from withdrawguard.sim import scenarios as s

pytestmark = pytest.mark.integration


def test_destination_change_before_a_restart_still_holds_a_withdrawal_after_it(
    bus: Bus, worker: Worker, tmp_path_factory: pytest.TempPathFactory
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    cid = unique("restart")
    dest = {"bank_code": "0010", "account_number": "9090901"}
    bus.send(s.honest_history(cid, now))
    bus.send(
        [
            s.change(
                cid,
                f"{cid}-d",
                now - timedelta(hours=2),
                "withdrawal_destination",
                "web",
                destination=dest,
            )
        ]
    )
    bus.wait_idle()
    worker.stop(signal.SIGKILL)  # no graceful shutdown: what a crash leaves is what counts
    # A fresh data directory: the table must come back from its changelog topic.
    worker.settings = worker.settings.__class__(
        **{
            **{f: getattr(worker.settings, f) for f in worker.settings.__dataclass_fields__},
            "data_dir": tmp_path_factory.mktemp("worker-after-restart"),
        }
    )
    worker.start()
    bus.send([s.withdrawal(cid, f"{cid}-w", now, f"{cid}-wd", "30000", destination=dest)])
    [verdict] = bus.wait_for(
        "the verdict", lambda: bus.values("withdrawal-decisions", withdrawal_id=f"{cid}-wd")
    )
    assert verdict["decision"] == "hold"
    assert "DEST_CHANGED_RECENTLY" in {r["code"] for r in verdict["reasons"]}
