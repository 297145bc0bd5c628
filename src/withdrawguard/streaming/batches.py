"""Batches of Faust events: who a table write belongs to, and grouping by key.

A batch agent (`stream.take_events`) handles many events in one pass of its body, so
Faust's notion of the *current event* — which a table write uses to choose the store and
changelog partition — no longer follows the event being handled. `in_event(event)` sets
it for the duration of a block: every table value written there goes to `event`'s
partition, exactly as if the write had happened in a per-event agent.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from faust.streams import _current_event  # the context variable Faust's tables read

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


@contextmanager
def in_event(event: Any) -> Iterator[None]:
    """Make `event` Faust's current event inside the block (table writes use its
    partition), and restore what was there before."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


def grouped(items: Iterable[T], key: Callable[[T], K]) -> dict[K, list[T]]:
    """Items grouped by `key`, groups in order of first appearance, items in arrival
    order within each group."""
    groups: dict[K, list[T]] = {}
    for item in items:
        k = key(item)
        group = groups.get(k)
        if group is None:
            groups[k] = [item]
        else:
            group.append(item)
    return groups
