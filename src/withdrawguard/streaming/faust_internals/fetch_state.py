"""What a Faust worker's fetching looks like right now, as one block of log text.

Written for the moment something has stopped arriving (a stalled partition, a table
restore that receives nothing): it says whether flow is suspended, how Faust and
aiokafka each see the partitions concerned (paused, active, buffer full, position), how
full the queues in between are, and where Faust's fetch loop and the consumer thread are
waiting (their stacks). Those are the places faust-streaming's recovery stalls have been
traced to (#74: a full buffer; #176, #596: partitions left paused). Everything read here
is Faust's and aiokafka's private state, so every read is guarded: the description is
for a person, and a field that cannot be read says so instead of failing the caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka.structs import TopicPartition

STACK_FRAMES = 8


def describe_fetch(app: Any, tps: Iterable[Any]) -> str:
    """A multi-line description of `app`'s fetching, with a line for each of `tps`."""
    consumer: Any = getattr(app, "consumer", None)
    flow = _read(lambda: consumer.flow_active)
    suspended = _read(lambda: consumer.suspend_flow.is_set())
    control = _read(lambda: app.flow_control.is_active())
    fetcher = _read(lambda: app._fetcher.state)
    queued = _read(lambda: app.tables.changelog_queue.qsize())
    buffered = _read(lambda: sum(len(b) for b in app.tables.recovery.buffers.values()))
    producing = _read(lambda: app.producer.buffer.pending.qsize())
    lines = [
        f"flow: consumer flow active={flow}, suspend_flow set={suspended}, "
        f"app flow control active={control}",
        f"fetcher service: {fetcher}; changelog queue: {queued} records; "
        f"recovery buffers: {buffered} records; producer buffer: {producing} messages",
    ]
    kafka = _read(lambda: consumer._thread._consumer)
    kafka_paused = _read(lambda: {(tp.topic, tp.partition) for tp in kafka.paused()})
    lines.extend(_partition_line(consumer, kafka, kafka_paused, tp) for tp in tps)
    lines.extend(_stacks(app))
    return "\n".join(lines)


def _partition_line(consumer: Any, kafka: Any, kafka_paused: Any, tp: Any) -> str:
    paused = _read(lambda: tp in consumer._paused_partitions)
    active = _read(lambda: tp in (consumer._active_partitions or ()))
    full = _read(lambda: tp in consumer._buffered_partitions)
    theirs = _read(lambda: (tp.topic, tp.partition) in kafka_paused)
    position = _read(lambda: _position(kafka, tp))
    return (
        f"  {tp.topic}[{tp.partition}]: faust paused={paused} active={active} "
        f"buffer full={full}; aiokafka paused={theirs} position={position}"
    )


def _position(kafka: Any, tp: Any) -> Any:
    state = kafka._subscription.subscription.assignment.state_value(
        TopicPartition(tp.topic, tp.partition)
    )
    if state is None:
        return "not assigned"
    return state.position if state.has_valid_position else "none"


def _stacks(app: Any) -> list[str]:
    """Where the fetch loop (a task on this loop) and the consumer thread's fetch routine
    (a task on that thread's loop) are waiting."""
    lines: list[str] = []
    try:
        mine = list(asyncio.all_tasks())
    except RuntimeError:  # not called from the event loop
        mine = []
    chains = [_await_frames(t.get_coro()) for t in mine]
    drains = [c for c in chains if any(f.f_code.co_name == "_drain_messages" for f in c)]
    if not drains:
        lines.append("fetch loop: no task is in Consumer._drain_messages")
    for chain in drains:
        at = next(i for i, f in enumerate(chain) if f.f_code.co_name == "_drain_messages")
        lines.append("fetch loop waits at:")
        lines.extend(_frame_lines(chain[at:]))
    # another thread's loop: a snapshot, read without its lock
    theirs = _read(lambda: list(asyncio.all_tasks(app.consumer._thread.thread_loop)))
    for task in theirs if isinstance(theirs, list) else ():
        if "_fetch_requests_routine" in repr(task.get_coro()):
            lines.append("consumer thread's fetch routine waits at:")
            lines.extend(_frame_lines(_await_frames(task.get_coro())))
    return lines


def _await_frames(coro: Any) -> list[Any]:
    """The frames of a suspended coroutine and of what it awaits, outermost first (a
    task's own `get_stack` gives only the outermost frame of a suspended coroutine)."""
    frames: list[Any] = []
    while coro is not None and len(frames) < 40:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            frames.append(frame)
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return frames


def _frame_lines(frames: list[Any]) -> list[str]:
    lines = []
    for frame in frames[:STACK_FRAMES]:
        name = frame.f_code.co_filename.rsplit("site-packages/", 1)[-1]
        lines.append(f"    {name}:{frame.f_lineno} {frame.f_code.co_name}")
    return lines


def _read(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except Exception as exc:  # noqa: BLE001 - private state of another library: say, never fail
        return f"<{type(exc).__name__}>"
