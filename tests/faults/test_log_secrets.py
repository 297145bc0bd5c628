"""No log of the fault suite holds a full account number of the load, a password, a
service token, a webhook signing secret or a console session secret.

Runs last (conftest orders it): it scans every worker log the suite's fault tests wrote,
and first makes a short run of its own in which each secret is used, so that it checks
something even when run alone: the notify sink signs webhooks with the seeded secret,
the console is signed into with the right and a wrong password, the decision API is
called with the token and a wrong one, and the worker is killed and restarted.
"""

from __future__ import annotations

import signal
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.faults.deployment import SECRETS
from tests.faults.invariants import SUITE_LOGS, check_logs
from tests.faults.run import fault_run

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def _post(url: str, data: dict[str, str]) -> int:
    body = urllib.parse.urlencode(data).encode()
    request = urllib.request.Request(url, data=body, method="POST")  # noqa: S310 - http://
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - our worker
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def _get(url: str, token: str) -> int:
    auth = {"Authorization": f"Bearer {token}"}
    request = urllib.request.Request(url, headers=auth)  # noqa: S310 - http://
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - our worker
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def test_no_log_of_the_fault_suite_holds_an_account_number_or_a_secret(
    services: tuple[str, str], fault_dir: Path, fault_seed: int
) -> None:
    with fault_run(services, fault_dir, "log scan", 3000, fault_seed) as run:
        worker = run.dep.worker("w1")
        worker.start()
        run.start(seconds=15)
        base = f"http://127.0.0.1:{run.dep.settings.web_port}"
        assert _post(f"{base}/login", {"user": "fault-analyst", "password": "wrong-one"}) >= 400
        _post(f"{base}/login", {"user": "fault-analyst", "password": SECRETS["password"]})
        wid = next(iter(run.load.withdrawals))
        api = f"{base}/api/withdrawals/{wid}/decision"
        assert _get(api, "svc-wrong-token") == 401
        assert _get(api, SECRETS["service token"]) == 200
        run.running(low=2, high=4)
        run.fault(lambda: (worker.stop(signal.SIGKILL), worker.start(timeout=180)))
        run.finish()
        alerts = run.dep.collector.of("fraud-alerts")
        assert alerts, "no alert: the webhook secret was never used"
    assert SUITE_LOGS, "no fault run recorded its logs"
    for path, load in SUITE_LOGS:
        check_logs([path], load)
