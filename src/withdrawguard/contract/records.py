"""A record on its way to a topic, and the function that hands one to a producer.

Every side that writes topics (the detector's batches, the console's policy actions, the
tests' harness) hands records to a `Produce`; only the wiring point knows it is Faust's
aiokafka producer underneath.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

Record = tuple[str, bytes | None, bytes, int | None, float | None]
"""topic, key, value, partition (None: by the key) and timestamp (None: now)."""
Produce = Callable[[Record], Awaitable[Awaitable[Any] | None]]
"""Hands one record to the producer: awaiting it enqueues the record, awaiting what it
returns waits for the broker's acknowledgement (its RecordMetadata)."""
ProduceMany = Callable[[str, int, Sequence[tuple[bytes, bytes]]], Awaitable[Awaitable[int]]]
"""Hands (key, value) records to one partition of a topic, in order, together: awaiting
what it returns waits for the broker's acknowledgement of all of them and gives the
offset of the last."""
