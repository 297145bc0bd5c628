"""Faust's current event: who a table write belongs to.

A batch agent (`batches.ready_batches`) handles many events in one pass of its body, so
Faust's notion of the *current event* — which a table write uses to choose the store and
changelog partition — no longer follows the event being handled. `in_event(event)` sets
it for the duration of a block: every table value written there goes to `event`'s
partition, exactly as if the write had happened in a per-event agent.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from faust.streams import _current_event  # the context variable Faust's tables read


@contextmanager
def in_event(event: Any) -> Iterator[None]:
    """Make `event` Faust's current event inside the block (table writes use its
    partition), and restore what was there before."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)
