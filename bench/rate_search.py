"""The rate search of bench/latency.py: the highest steady rate that passes, by bisection.

Pure: `search` is given the function that runs one step (a steady load at a rate, for a
fixed time, on the same worker) and says whether it passed; it measures `low` first, then
bisects between the highest rate that passed and the lowest that failed: above `low` up
to `high` (the burst maximum, which a steady load is not expected to sustain: it is never
run itself) if `low` passed, below it (down from `low`, towards 0) if not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Step:
    rate: float
    passed: bool
    why: str
    """What failed it (or "ok")."""
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass
class Search:
    steps: list[Step] = field(default_factory=list)

    @property
    def best(self) -> Step | None:
        """The highest rate that passed."""
        passed = [s for s in self.steps if s.passed]
        return max(passed, key=lambda s: s.rate) if passed else None

    @property
    def lowest_failed(self) -> Step | None:
        failed = [s for s in self.steps if not s.passed]
        return min(failed, key=lambda s: s.rate) if failed else None


def search(
    run: Callable[[float], Step], low: float, high: float, steps: int, precision: float = 0.03
) -> Search:
    """At most `steps` steps; stops early once the bracket is within `precision` of its
    lower end (a step of 3% is within a single step's noise on this machine)."""
    if not 0 < low < high:
        raise ValueError(f"the search needs 0 < low < high, got low {low}, high {high}")
    done = Search()
    first = run(low)
    done.steps.append(first)
    passing, failing = (low, high) if first.passed else (0.0, low)
    while len(done.steps) < steps and failing - passing > precision * passing:
        step = run((passing + failing) / 2)
        done.steps.append(step)
        if step.passed:
            passing = step.rate
        else:
            failing = step.rate
    return done


def verdict(
    p99_ms: float, target_ms: float, missing: int, lag_grew: bool, achieved: float, rate: float
) -> tuple[bool, str]:
    """Whether a step passed: decision p99 within the target, no verdict missing, the
    worker not falling behind, and the producer having kept the rate (else the step says
    nothing about the worker)."""
    if achieved < 0.97 * rate:
        return False, f"the benchmark produced only {achieved:,.0f} events/s"
    if missing:
        return False, f"{missing} verdicts missing"
    if lag_grew:
        return False, "the worker fell behind (its lag grew)"
    if not p99_ms <= target_ms:
        return False, f"p99 {p99_ms} ms > {target_ms:g} ms"
    return True, "ok"


def lag_grew(samples: list[int]) -> bool:
    """Whether unprocessed messages grew over a step: every sample of its last third above
    every sample of its first third. Committed offsets move in steps (Faust commits every
    few seconds), so single samples jump; a worker keeping up returns to its low marks,
    one falling behind never does."""
    if len(samples) < 6:
        return False
    third = len(samples) // 3
    return min(samples[-third:]) > max(samples[:third])
