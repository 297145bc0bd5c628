"""The scan's progress display: one line redrawn on a terminal, plain lines otherwise."""

from __future__ import annotations

import io

from withdrawguard.progress import Progress, duration


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_on_a_terminal_one_line_is_redrawn_with_count_rate_share_and_eta() -> None:
    out, clock = io.StringIO(), Clock()
    progress = Progress(out, tty=True, clock=clock)
    progress.phase("read", total=1000)
    clock.now += 10
    progress.update(5000, position=250)
    clock.now += 10
    progress.update(10000, position=500)
    progress.done()
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    frames = text.split("\r")[1:]
    assert "5,000 events" in frames[0] and "500/s" in frames[0]
    assert "25.0%" in frames[0] and "ETA 0:00:30" in frames[0]
    assert "50.0%" in frames[1] and "ETA 0:00:20" in frames[1]
    assert "10,000 events in 0:00:20" in frames[2]


def test_elsewhere_a_plain_line_is_printed_every_interval_and_no_eta_without_a_total() -> None:
    out, clock = io.StringIO(), Clock()
    progress = Progress(out, tty=False, interval=5.0, clock=clock)
    progress.phase("detect", total=None)
    for _ in range(20):
        clock.now += 1
        progress.update(progress.count + 100)
    progress.done()
    rows = out.getvalue().splitlines()
    assert len(rows) == 4 + 1  # at 5, 10, 15 and 20 seconds, then the final line
    assert "\r" not in out.getvalue()
    assert all("ETA" not in row for row in rows)
    assert rows[0].startswith("detect") and "500 events" in rows[0]


def test_without_a_stream_nothing_is_drawn() -> None:
    progress = Progress(None)
    progress.phase("read", 10)
    progress.update(5)
    progress.done()


def test_durations_read_as_hours_minutes_seconds() -> None:
    assert duration(0) == "0:00:00"
    assert duration(245) == "0:04:05"
    assert duration(3 * 3600 + 7) == "3:00:07"
