"""The worker's heap and Python's cyclic garbage collector: what the worker builds at
start-up frozen out of the collections once its tables are ready, and the full
collections timed.

A full (generation 2) collection walks every tracked object that survived the earlier
ones. Most of the worker's objects live as long as the process: Faust's app, agents,
topics and tables, aiokafka's clients, the policy and its engine, the web routes, the
metrics. Before this, one worker at 1,612 events/s ran a full collection every 12 to 20 s
that took 26 to 82 ms, freed nothing, and grew with the heap: a pause that held up every
verdict behind it (docs/performance.md, *Why the latency target moved out of reach*).
`gc.freeze()` moves every object alive at that moment into the permanent generation,
which no collection walks; what the worker allocates afterwards is collected as before.
At 300 events/s a full collection took 125 to 186 ms with Python's collector as it is and
5 to 10 ms frozen (docs/performance.md, *Latency under steady load*).

`WG_GC=freeze` (the default) freezes once Faust starts the app's tasks, which it does
after the first table recovery (`App.on_started`); `WG_GC=python` leaves Python's
collector as it is (the A/B of docs/performance.md). Either way the full collections
are timed: `withdrawguard_gc_full_collection_seconds` on `/metrics`.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from typing import Any

import faust
from prometheus_client import CollectorRegistry, Histogram

from withdrawguard.adapters.prometheus_base import PREFIX

log = logging.getLogger(__name__)

FULL = 2
"""The oldest generation: a collection of it walks every tracked object not frozen."""

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class FullCollections:
    """A `gc.callbacks` entry timing the full collections into a histogram. Called at the
    start and end of every collection (hundreds a second in a busy worker), it returns at
    once for the younger generations."""

    def __init__(
        self, registry: CollectorRegistry, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self._seconds = Histogram(
            f"{PREFIX}_gc_full_collection_seconds",
            "Full (generation 2) garbage collections of the worker and how long each took.",
            buckets=BUCKETS,
            registry=registry,
        )
        self._clock = clock
        self._started: float | None = None

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != FULL:
            return
        if phase == "start":
            self._started = self._clock()
        elif self._started is not None:
            self._seconds.observe(self._clock() - self._started)
            self._started = None


def freeze() -> int:
    """Collect what is garbage now, then move every object left into the permanent
    generation; how many objects are frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def install(app: faust.App, mode: str, registry: CollectorRegistry) -> FullCollections:
    """Time the full collections from now on; with mode `freeze`, freeze the heap once the
    app's tasks start (after the first table recovery)."""
    timer = FullCollections(registry)
    gc.callbacks.append(timer)
    if mode == "freeze":
        app.task(_freeze_heap)
    return timer


async def _freeze_heap() -> None:
    started = time.perf_counter()
    frozen = freeze()
    took = 1000 * (time.perf_counter() - started)
    log.info("froze %d objects of the start-up heap out of collections (%.0f ms)", frozen, took)
