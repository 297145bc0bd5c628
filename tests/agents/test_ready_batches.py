"""An agent's batches as they come (streaming/faust_internals/batches.py): an event with
nothing behind it goes at once, whatever the window; events waiting together go together,
at most `most`; events arriving while a batch is handled make the next batch, none lost
or repeated; a batch's events are acknowledged only once the agent is done with it; and a
stream that keeps refilling still hands its batch over within the window. A real Faust
stream over a channel of the detector app (as the agent's stream over its topic)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from withdrawguard.streaming.faust_internals.batches import ready_batches
from withdrawguard.worker.app import Detector


@pytest.fixture
def channel(detector: tuple[Detector, Any]) -> Any:
    app = detector[0].app
    app.flow_control.resume()  # as a started app's is
    return app.channel(maxsize=100)


class Agent:
    """Takes `ready_batches` of a stream, holding each batch for `hold` seconds."""

    def __init__(self, stream: Any, most: int, within: float, hold: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.events: list[list[Any]] = []
        self.acked_while_held: list[bool] = []
        self.took: asyncio.Queue[list[int]] = asyncio.Queue()
        self.task = asyncio.create_task(self._run(stream, most, within, hold))

    async def _run(self, stream: Any, most: int, within: float, hold: float) -> None:
        async for batch in ready_batches(stream, most, within):
            values = [e.value for e in batch]
            self.batches.append(values)
            self.events.append(batch)
            self.took.put_nowait(values)
            await asyncio.sleep(hold)
            self.acked_while_held.append(any(e.message.acked for e in batch))

    async def next(self, seconds: float = 5.0) -> list[int]:
        return await asyncio.wait_for(self.took.get(), seconds)

    async def stop(self) -> None:
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task


async def test_an_event_with_nothing_behind_it_goes_at_once(channel: Any) -> None:
    agent = Agent(channel.stream(), most=500, within=30.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await channel.send(value=1)
    assert await agent.next(seconds=5.0) == [1]
    assert loop.time() - started < 5.0  # not the 30 s window
    await agent.stop()


async def test_waiting_events_go_together_at_most_most_and_none_is_lost(channel: Any) -> None:
    agent = Agent(channel.stream(), most=3, within=30.0, hold=0.3)
    await channel.send(value=0)
    assert await agent.next() == [0]
    for value in range(1, 9):  # while [0] is handled: they wait for the next batches
        await channel.send(value=value)
    assert await agent.next() == [1, 2, 3]
    assert await agent.next() == [4, 5, 6]
    assert await agent.next() == [7, 8]
    await asyncio.sleep(0.4)  # the last batch held, then acknowledged
    assert agent.batches == [[0], [1, 2, 3], [4, 5, 6], [7, 8]]
    assert agent.acked_while_held == [False, False, False, False]
    assert all(e.message.acked for batch in agent.events for e in batch)
    await agent.stop()


async def test_a_stream_that_keeps_refilling_hands_its_batch_over_within_the_window(
    channel: Any,
) -> None:
    stream = channel.stream()

    async def slow(value: Any) -> Any:  # the stream takes an event each 20 ms
        await asyncio.sleep(0.02)
        return value

    stream.add_processor(slow)  # before the batches' own: it runs first
    for value in range(30):
        await channel.send(value=value)
    loop = asyncio.get_running_loop()
    started = loop.time()
    agent = Agent(stream, most=500, within=0.1)
    first = await agent.next()
    waited = loop.time() - started
    assert len(first) < 30  # not every event: the window closed the batch
    assert first == list(range(len(first)))
    assert waited < 2.0  # the 100 ms window after its first event, with room for a slow machine
    taken = list(first)
    while len(taken) < 30:
        taken += await agent.next()
    assert taken == list(range(30))
    await agent.stop()
