"""Send what the producer holds now, for a caller that is about to wait for the broker.

The worker's producer lingers 5 ms (`producer_linger`) so that the records of many small
sends leave in a few large requests. A batch agent hands all of a batch's outputs to the
producer without giving the event loop up, then waits for their acknowledgement, then
does the same with the batch's changelog records: by the time it waits, every record the
linger could gather is already in aiokafka's batches, and the linger only delays the
request by 5 ms, twice per batch (docs/performance.md, *Latency under steady load*).

`send_now` closes aiokafka's open batches (as aiokafka's own `flush_for_commit` does
for a transaction) and wakes its sender: a closed batch is sent at once, and records sent
after it go into a new one. aiokafka keeps one request in flight per broker, so records
that come while one is in flight still wait for it and leave together: this adds no
request per record, only stops the wait when the broker is idle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer

SendNow = Callable[[], None]


def producer_send_now(producer: Callable[[], AIOKafkaProducer]) -> SendNow:
    """`send_now` over the aiokafka producer `producer()` returns (Faust's, once started)."""

    def send_now() -> None:
        accumulator: Any = producer()._message_accumulator
        for queued in accumulator._batches.values():
            for batch in queued:
                batch._builder.close()  # a closed batch lingers no more (remaining_linger)
        waiter = accumulator._waiter_future
        if not waiter.done():
            waiter.set_result(None)  # the sender, waiting for data or a linger, runs now

    return send_now


def app_send_now(app: Any) -> SendNow:
    """`producer_send_now` over a Faust app's aiokafka producer (started with the app)."""
    return producer_send_now(lambda: app.producer._ensure_producer())
