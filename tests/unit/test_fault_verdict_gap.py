"""The client-visible gap the fault report gives: the longest silence between two verdicts
the collector received around a fault."""

from __future__ import annotations

from tests.faults.deployment import Collector, Out
from withdrawguard.settings import Settings


def _collector(*times: float) -> Collector:
    c = Collector(Settings())
    c.records = [Out("withdrawal-decisions", 0, i, None, b"{}", x) for i, x in enumerate(times)]
    return c


def test_the_gap_spans_from_the_last_verdict_before_the_fault_to_the_first_after() -> None:
    c = _collector(1.0, 2.0, 9.0, 9.5, 10.5, 40.0)
    assert c.longest_gap("withdrawal-decisions", start=3.0, end=10.0) == 7.0


def test_a_silence_reaching_past_the_window_counts_until_the_next_verdict() -> None:
    c = _collector(1.0, 2.0, 14.0)
    assert c.longest_gap("withdrawal-decisions", start=3.0, end=10.0) == 12.0


def test_no_verdict_during_the_fault_is_a_gap_until_its_end() -> None:
    assert _collector(1.0).longest_gap("withdrawal-decisions", start=3.0, end=10.0) == 9.0


def test_a_fault_before_the_first_verdict_counts_from_its_start() -> None:
    assert _collector().longest_gap("withdrawal-decisions", start=3.0, end=10.0) == 7.0
    assert _collector(5.0, 6.0).longest_gap("withdrawal-decisions", start=3.0, end=10.0) == 2.0
