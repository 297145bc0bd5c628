"""A suppression end to end on the real Kafka, Redis and worker: a customer's new-phone
withdrawal is held and opens a case; a supervisor suppresses the two reasons through
`withdrawguard cases suppress`; the worker then allows a withdrawal made while it lasts,
naming the suppression in the verdict, and holds the next one made after `until` (event
times: no sweep or timer is involved). A reason that may never be muted is refused."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import Bus, unique
from tests.integration.test_cases import _cases_of, _cli
from tests.integration.web_client import add_users
from tests.unit.test_engine_suppressions import PHONE_REASONS, new_phone, withdraw
from withdrawguard.settings import Settings

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def supervisor(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Settings, Path]:
    """The session's deployment with a users file holding sid, a supervisor."""
    where = tmp_path_factory.mktemp("suppressions")
    with_users = replace(settings, users_file=where / "users.json")
    add_users(with_users, {"sid": ("supervisor", PASSWORD)})
    secret = where / "password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    return with_users, secret


def test_a_suppression_made_through_the_cli_mutes_its_reasons_until_it_ends(
    bus: Bus, supervisor: tuple[Settings, Path]
) -> None:
    settings, secret = supervisor
    cid = unique("phone")
    now = datetime.now(UTC).replace(microsecond=0)
    bus.send(new_phone(cid, now - timedelta(hours=2)))
    bus.wait_idle()
    bus.send([withdraw(cid, 1, now - timedelta(minutes=30))])
    [held] = bus.wait_for(
        "the first withdrawal held",
        lambda: bus.values("withdrawal-decisions", withdrawal_id=f"{cid}-wd1", decision="hold"),
    )
    assert set(PHONE_REASONS) <= {r["code"] for r in held["reasons"]}
    [case] = bus.wait_for("the case", lambda: _cases_of(settings, cid), timeout=60)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return _cli(settings, "sid", *args, secret=secret)

    never = cli(
        "suppress",
        case.case_id,
        "--reasons",
        "NEW_DEVICE,CONFIRMED_FRAUD_DESTINATION",
        "--until",
        (now + timedelta(days=1)).isoformat(),
        "--note",
        "n",
    )
    assert never.returncode == 2 and "400" in never.stderr
    assert "CONFIRMED_FRAUD_DESTINATION may never be suppressed" in never.stderr

    until = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    made = cli(
        "suppress",
        case.case_id,
        "--reasons",
        ",".join(PHONE_REASONS),
        "--until",
        until.isoformat(),
        "--note",
        "new phone confirmed by call-back to the registered number",
    )
    assert made.returncode == 0, made.stderr
    assert "suppression_added" in made.stdout and "1 case decision(s) sent" in made.stdout
    [suppression] = _cases_of(settings, cid)[0].suppressions
    shown = cli("show", case.case_id)
    assert f"suppression {suppression.suppression_id}" in shown.stdout, shown.stderr

    during_at = suppression.created_at + timedelta(seconds=1)
    bus.send([withdraw(cid, 2, during_at)])
    [during] = bus.wait_for(
        "the withdrawal made during the suppression",
        lambda: bus.values("withdrawal-decisions", withdrawal_id=f"{cid}-wd2"),
    )
    assert during["decision"] == "allow", during
    named: list[dict[str, Any]] = during["suppressed"]
    assert {m["reason"] for m in named} == set(PHONE_REASONS)
    assert {(m["suppression_id"], m["case_id"], m["until"]) for m in named} == {
        (suppression.suppression_id, case.case_id, until.isoformat())
    }

    bus.send([withdraw(cid, 3, until + timedelta(seconds=1))])
    [after] = bus.wait_for(
        "the withdrawal made after the suppression ended",
        lambda: bus.values("withdrawal-decisions", withdrawal_id=f"{cid}-wd3"),
    )
    assert after["decision"] == "hold" and after["suppressed"] == []
    assert set(PHONE_REASONS) <= {r["code"] for r in after["reasons"]}

    # Leave no open case for another test's take-next: release both holds, then close.
    holds = {f"hold-{cid}-wd1", f"hold-{cid}-wd3"}
    bus.wait_for(
        "the later hold on the case",
        lambda: any(
            c.case_id == case.case_id and holds <= {h.hold_id for h in c.holds}
            for c in _cases_of(settings, cid)
        ),
        timeout=60,
    )
    for hold in sorted(holds):
        released = cli("release", case.case_id, hold, "--note", "customer verified")
        assert released.returncode == 0, released.stderr
    closed = cli("close", case.case_id, "customer_verified", "--note", "new phone confirmed")
    assert closed.returncode == 0, closed.stderr
