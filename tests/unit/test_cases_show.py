"""`withdrawguard cases show`'s text: an open case counts down to its due time; a
closed case says so instead of a time left it no longer has."""

from __future__ import annotations

import io
from datetime import timedelta

from tests.unit.test_cases_builders import ALICE, T0, Desk
from withdrawguard.cases import commands as cmd
from withdrawguard.casework.show import print_case


def _due_line(desk: Desk, hours_later: float) -> str:
    out = io.StringIO()
    print_case(desk.case, desk.log, T0 + timedelta(hours=hours_later), out)
    return next(line for line in out.getvalue().splitlines() if line.startswith("  due "))


def test_an_open_case_shows_the_time_left_and_a_breach_once_past_due() -> None:
    desk = Desk.open()
    sla_hours = desk.case.sla_minutes / 60
    assert _due_line(desk, 1).endswith(f"{int(sla_hours) - 1}h00m left")
    assert _due_line(desk, sla_hours + 2).endswith("-2h00m left (SLA breached)")


def test_a_closed_case_says_closed_not_a_time_left() -> None:
    desk = Desk.open()
    desk.do(ALICE, cmd.Close, outcome="confirmed_fraud", note="a mule account")
    assert _due_line(desk, 1).endswith(": closed")
    assert "left" not in _due_line(desk, 100)
