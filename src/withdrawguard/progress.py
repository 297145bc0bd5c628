"""Progress of a long scan: count, rate and, when the total is known, percent and ETA.

On a terminal it is one line redrawn in place (on stderr); otherwise a plain line every
`interval` seconds, which reads well in a log file or a CI job.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO


def duration(seconds: float) -> str:
    """`0:04:05` for 245 seconds."""
    s = max(0, round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class Progress:
    """Call `phase` at the start of each pass, `update` as often as convenient (it is
    cheap and draws only when due), and `done` at the end of the pass."""

    def __init__(
        self,
        stream: TextIO | None,
        *,
        tty: bool | None = None,
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.tty = bool(stream is not None and (stream.isatty() if tty is None else tty))
        self.interval = 0.2 if self.tty else interval
        self.clock = clock
        self.name = ""
        self.unit = "events"
        self.total: int | None = None
        self.count = 0
        self.position = 0
        self.started = 0.0
        self._next = 0.0
        self._width = 0

    def phase(self, name: str, total: int | None = None, unit: str = "events") -> None:
        self.name, self.total, self.unit = name, total, unit
        self.count = self.position = 0
        self.started = self.clock()
        self._next = self.started + self.interval

    def update(self, count: int, position: int | None = None) -> None:
        """`count` items done; `position` in the units of `total` (default: `count`)."""
        self.count = count
        self.position = count if position is None else position
        now = self.clock()
        if now >= self._next:
            self._next = now + self.interval
            self._draw(self.line(now))

    def done(self) -> None:
        """Draw the pass's final line (and end the in-place line on a terminal)."""
        now = self.clock()
        elapsed = now - self.started
        rate = self.count / elapsed if elapsed > 0 else 0.0
        line = (
            f"{self.name:<15} {self.count:>12,} {self.unit} in {duration(elapsed)}  {rate:>9,.0f}/s"
        )
        self._draw(line)
        if self.tty and self.stream is not None:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0

    def line(self, now: float) -> str:
        elapsed = now - self.started
        rate = self.count / elapsed if elapsed > 0 else 0.0
        text = f"{self.name:<15} {self.count:>12,} {self.unit}  {rate:>9,.0f}/s"
        if self.total:
            share = min(1.0, self.position / self.total)
            text += f"  {share:6.1%}"
            if 0 < share < 1:
                text += f"  ETA {duration(elapsed * (1 - share) / share)}"
        return text

    def _draw(self, text: str) -> None:
        if self.stream is None:
            return
        if self.tty:
            pad = max(0, self._width - len(text))
            self.stream.write("\r" + text + " " * pad)
            self._width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
