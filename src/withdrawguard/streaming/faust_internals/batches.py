"""An agent's batches as they come: every event already waiting, up to a limit, at once.

Faust's `take_events(max, within)` hands a batch over when it holds `max` events or when
`within` has passed since the agent last asked, whichever is first, and takes no event
from the stream while the agent handles a batch. At a steady few hundred events a second
almost no batch fills, so nearly every event waits for the window (5 ms) on top of the
batch before it (its decisions, then the broker's acknowledgement of its outputs and
changelog records): the cycle that bounds decision latency under steady load
(docs/performance.md, *Latency under steady load*).

`ready_batches(stream, most, within)` hands the agent a batch as soon as one of these holds:

- no event waits behind the last one taken (the stream's channel is empty): under a
  steady load that is almost always, and the event goes at once;
- the batch holds `most` events;
- `within` seconds have passed since its first event was taken (a bound, for a channel that
  keeps refilling faster than the stream takes from it).

Events keep going into the next batch while the agent handles one, up to `most` (then the
stream waits, and the channel's own buffer and Faust's flow control hold the rest back as
before). So under load a batch is what arrived during the cycle before it, and no wait of
the cycle is spent idle; an idle worker hands each event over alone.

As with `take_events`: the stream's own acknowledgements are off while the batches run,
and each batch's events are acknowledged once the agent is done with it (the offsets never
move past an event whose batch is not done); the stream is consumed by Faust's passive
drainer, this generator's processor collecting each event. A rebalance that waits for the
stream's unacknowledged events gets them within `within` at most: a batch with events never
waits longer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any


async def ready_batches(stream: Any, most: int, within: float) -> AsyncIterator[list[Any]]:
    """Batches of `stream`'s events (a `faust.Stream`), as the module's doc says."""
    loop = asyncio.get_running_loop()
    queue = stream.channel.queue  # where Faust's conductor puts the stream's events
    events: list[Any] = []
    first = 0.0  # when the next batch's first event was taken (the loop's clock)
    wake = asyncio.Event()  # set when the next batch may be ready: see collect
    room = asyncio.Event()  # set while the next batch holds fewer than `most`
    room.set()

    async def collect(value: Any) -> Any:
        nonlocal first
        while len(events) >= most and not stream.should_stop:
            room.clear()
            await stream.wait(room)  # the batch before is still being handled
        event = stream.current_event
        if event is None:
            raise RuntimeError("a batch's event is missing: Faust gave no current event")
        if not events:
            first = loop.time()
            wake.set()
        events.append(event)
        if len(events) >= most or queue.empty():
            wake.set()
        return value

    acks = stream.enable_acks
    stream.enable_acks = False  # each batch acknowledges its own events when done
    stream.add_processor(collect)
    stream._enable_passive(stream.channel)  # Faust's drainer runs the processors
    try:
        while not stream.should_stop:
            if not events:
                wake.clear()
                await stream.wait_for_stopped(wake)
                continue
            left = first + within - loop.time()
            if len(events) < most and not queue.empty() and left > 0:
                wake.clear()
                await stream.wait_for_stopped(wake, timeout=left)
                continue
            batch = events[:most]
            del events[:most]
            first = loop.time()  # none left unless the stream is stopping
            room.set()
            try:
                yield batch
            finally:
                for event in batch:
                    await stream.ack(event)
    finally:
        stream.enable_acks = acks
        stream._processors.remove(collect)
