"""The worker's full garbage collections: timed, and the start-up heap frozen out of them."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from withdrawguard.worker.heap import FullCollections, freeze

NAME = "withdrawguard_gc_full_collection_seconds"


def test_only_full_collections_are_timed() -> None:
    registry = CollectorRegistry()
    ticks = iter([10.0, 10.04])
    timer = FullCollections(registry, clock=lambda: next(ticks))
    for generation in (0, 1):
        timer("start", {"generation": generation, "collected": 0, "uncollectable": 0})
        timer("stop", {"generation": generation, "collected": 0, "uncollectable": 0})
    timer("start", {"generation": 2, "collected": 0, "uncollectable": 0})
    timer("stop", {"generation": 2, "collected": 5, "uncollectable": 0})
    assert registry.get_sample_value(f"{NAME}_count") == 1
    assert registry.get_sample_value(f"{NAME}_sum") == pytest.approx(0.04)


def test_a_real_full_collection_is_observed() -> None:
    registry = CollectorRegistry()
    timer = FullCollections(registry)
    gc.callbacks.append(timer)
    try:
        gc.collect()
    finally:
        gc.callbacks.remove(timer)
    assert registry.get_sample_value(f"{NAME}_count") == 1


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


@pytest.mark.usefixtures("unfrozen")
def test_freezing_moves_live_objects_out_of_collections_and_not_garbage() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self

    kept = Node()
    Node()  # a cycle with no reference left: garbage, collected before the freeze
    # the count alone says little and no second read can check it: another thread of the
    # test process frees frozen objects (the count falls) or freezes more (it rises)
    assert freeze() > 0
    assert gc.is_tracked(kept)  # still tracked, yet in no generation a collection walks:
    assert not any(o is kept for o in gc.get_objects())  # the permanent one holds it
    assert not any(type(o) is Node for o in gc.get_objects())
