"""The drain loop's watch (streaming/faust_internals/drain.py): a message is handed over
with a plain await only while nothing in the conductor's callback could wait; each thing
that can make it wait sends it back to Faust's interruptible `wait_first`. Real Faust
objects of the detector app (its consumer, flow control, producer buffer, a channel);
the rebalance under load is tests/faults/test_rebalance_faults.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from faust.types import TP

from withdrawguard.streaming.faust_internals import transport as kafka_transport
from withdrawguard.streaming.faust_internals.drain import FULL, NONE, OTHER, WaitWatch
from withdrawguard.worker.app import Detector

TOPIC_PARTITION = TP("wg-drain-test", 0)


@pytest.fixture
def watched(detector: tuple[Detector, Any]) -> tuple[WaitWatch, Any, Any, asyncio.Lock]:
    app = detector[0].app
    app.flow_control.resume()  # as a started app's is
    channel = app.channel(maxsize=2)
    lock = asyncio.Lock()
    watch = WaitWatch(
        app.consumer.suspend_flow,
        app.flow_control,
        app.producer.buffer,
        lock,
        lambda tp: [channel] if tp == TOPIC_PARTITION else [],
    )
    return watch, app, channel, lock


def test_the_detector_consumer_drains_with_the_watch(detector: tuple[Detector, Any]) -> None:
    consumer = detector[0].app.consumer
    assert isinstance(consumer, kafka_transport.Consumer)
    watch = WaitWatch.of(detector[0].app, consumer)
    assert watch.could_wait(TOPIC_PARTITION) is True  # the streams' flow is off until start
    detector[0].app.flow_control.resume()
    assert watch.could_wait(TOPIC_PARTITION) is False


def test_nothing_could_wait_with_the_flow_on_and_room_everywhere(watched: Any) -> None:
    watch, *_ = watched
    assert watch.could_wait(TOPIC_PARTITION) is False


def test_a_full_stream_buffer_could_wait(watched: Any) -> None:
    watch, _, channel, _ = watched
    channel.queue.put_nowait(1)
    assert watch.could_wait(TOPIC_PARTITION) is False  # one of two places taken
    channel.queue.put_nowait(2)
    assert watch.could_wait(TOPIC_PARTITION) is True
    assert watch.could_wait(TP("wg-drain-test", 1)) is False  # another partition's buffer


def test_flow_control_held_by_a_rebalance_could_wait(watched: Any) -> None:
    watch, app, _, _ = watched
    app.flow_control.suspend()
    assert watch.could_wait(TOPIC_PARTITION) is True


def test_the_consumer_flow_stopped_could_wait(watched: Any) -> None:
    watch, app, _, _ = watched
    app.consumer.stop_flow()
    assert watch.could_wait(TOPIC_PARTITION) is True
    app.consumer.resume_flow()
    assert watch.could_wait(TOPIC_PARTITION) is False


def test_a_producer_buffer_over_its_limit_could_wait(watched: Any) -> None:
    watch, app, _, _ = watched
    buffer = app.producer.buffer
    for n in range(buffer.max_messages + 1):
        buffer.pending.put_nowait(n)
    assert watch.could_wait(TOPIC_PARTITION) is True


async def test_the_conductor_rebuilding_its_subscriptions_could_wait(watched: Any) -> None:
    watch, _, _, lock = watched
    async with lock:
        assert watch.could_wait(TOPIC_PARTITION) is True
    assert watch.could_wait(TOPIC_PARTITION) is False


def test_a_full_buffer_alone_is_told_apart_from_a_rebalance(watched: Any) -> None:
    watch, app, channel, _ = watched
    assert watch.reason(TOPIC_PARTITION) == NONE
    channel.queue.put_nowait(1)
    channel.queue.put_nowait(2)
    assert watch.reason(TOPIC_PARTITION) == FULL  # the drain waits for room once
    app.flow_control.suspend()
    assert watch.reason(TOPIC_PARTITION) == OTHER  # Faust's interruptible hand-over


def test_a_buffer_taken_down_to_its_low_mark_wakes_the_drain(
    detector: tuple[Detector, Any],
) -> None:
    consumer = detector[0].app.consumer
    assert not consumer.buffer_room.is_set()
    consumer.on_buffer_drop(TOPIC_PARTITION)  # Faust's pressure-drop callback
    assert consumer.buffer_room.is_set()
