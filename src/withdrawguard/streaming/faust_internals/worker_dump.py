"""Everything a worker is waiting on, as one block of log text: for a worker that has
stopped committing with input to process (the broker restart wedge of issue 25).

`describe_fetch` (fetch_state.py) says how the consumer sees the partitions; this adds
what the rest of the worker awaits:

- every asyncio task of the worker's loop (and of the consumer thread's loop), with the
  chain of coroutines it awaits, innermost last: what each agent, sink and timer awaits;
- the aiokafka producer: the sender task, the nodes with a request in flight, the muted
  partitions, and each batch still buffered in the accumulator or sent and not yet
  acknowledged (its partition, records, age, retries, whether its future is done);
- Faust's commit bookkeeping per partition: the offset it last committed, the acked
  offsets it holds, the gaps, the messages handed to streams and not yet acked, and
  whether a commit is under way (every later commit waits for it).

Like `describe_fetch`, every read of another library's private state is guarded: the
text is for a person, and a field that cannot be read says so instead of failing.

Written by the stall guard when it finds stalled partitions, and on SIGUSR1
(`dump_on_signal`, installed by the worker entry point), so that a wedge leaves evidence.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
import traceback
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from withdrawguard.streaming.faust_internals.fetch_state import _read, describe_fetch

log = logging.getLogger(__name__)

TASK_FRAMES = 14
"""Innermost frames shown per task: where it waits, and what led there."""
BATCHES_SHOWN = 40


def describe_worker(app: Any) -> str:
    """A multi-line description of what `app`'s worker awaits and holds."""
    tps = _read(lambda: sorted(app.consumer.assignment()))
    tps = tps if isinstance(tps, list) else []
    lines = ["== tasks (worker loop) =="]
    lines.extend(_tasks(_read(lambda: list(asyncio.all_tasks()))))
    lines.append("== tasks (consumer thread loop) ==")
    lines.extend(_tasks(_read(lambda: list(asyncio.all_tasks(app.consumer._thread.thread_loop)))))
    lines.append("== aiokafka clients ==")
    kafka = _read(lambda: app.consumer._thread._consumer)
    lines.extend(describe_client("consumer", _read(lambda: kafka._client)))
    lines.append(f"  consumer group coordinator: {_read(lambda: _coordinator(kafka._coordinator))}")
    lines.extend(describe_client("producer", _read(lambda: app.producer._producer.client)))
    lines.append("== producer ==")
    lines.extend(describe_producer(_read(lambda: app.producer._producer)))
    lines.append("== commit bookkeeping ==")
    lines.extend(_commits(app, tps))
    lines.append("== fetch state ==")
    lines.append(describe_fetch(app, tps))
    return "\n".join(lines)


def _tasks(tasks: Any) -> list[str]:
    if not isinstance(tasks, list):
        return [f"  unreadable: {tasks}"]
    lines: list[str] = []
    for task in sorted(tasks, key=lambda t: t.get_name()):
        frames = await_chain(task.get_coro())
        where = " <- ".join(_frame(f) for f in reversed(frames[-TASK_FRAMES:]))
        waiter = _read(partial(_waiting_on, task))
        lines.append(f"  {task.get_name()} [{_coro_name(task)}]: {where or '(no frame)'}")
        if waiter:
            lines.append(f"      awaits {waiter}")
    return lines


def await_chain(coro: Any) -> list[Any]:
    """The frames of a suspended coroutine and of everything it awaits, outermost first,
    through async generators too: an agent's `async for` awaits an `asend` object that
    does not name its generator, so the running generator is found among the awaiting
    frame's locals (Faust's `_slurp` holds the agent's as `it`)."""
    frames: list[Any] = []
    while coro is not None and len(frames) < 60:
        frame = _attr(coro, "cr_frame", "gi_frame", "ag_frame")
        if frame is not None:
            frames.append(frame)
        nxt = _attr(coro, "cr_await", "gi_yieldfrom", "ag_await")
        if type(nxt).__name__ == "async_generator_asend" and frame is not None:
            running = [v for v in frame.f_locals.values() if getattr(v, "ag_await", None)]
            nxt = running[0] if running else None
        coro = nxt
    return frames


def _attr(obj: Any, *names: str) -> Any:
    for name in names:
        value = getattr(obj, name, None)
        if value is not None:
            return value
    return None


def _coro_name(task: Any) -> str:
    coro = task.get_coro()
    return str(getattr(coro, "__qualname__", type(coro).__name__))


def _waiting_on(task: Any) -> str:
    """The future the task's innermost coroutine awaits (not a coroutine: a Future, a
    Task or a gather), when it can be told."""
    fut = getattr(task, "_fut_waiter", None)
    if fut is None:
        return ""
    return repr(fut)[:300]


def _frame(frame: Any) -> str:
    name = frame.f_code.co_filename.rsplit("site-packages/", 1)[-1]
    name = name.rsplit("/src/", 1)[-1].rsplit("/lib/python3.11/", 1)[-1]
    return f"{frame.f_code.co_name}@{name}:{frame.f_lineno}"


def describe_producer(producer: Any) -> list[str]:
    """The aiokafka producer's sender and accumulator: what is buffered, what is sent
    and not acknowledged, and what the sender waits for."""
    if producer is None or isinstance(producer, str):
        return [f"  no producer ({producer})"]
    sender = _read(lambda: producer._sender)
    acc = _read(lambda: producer._message_accumulator)
    task = _read(lambda: sender.sender_task)
    lines = [
        f"  sender task: {_read(lambda: _task_state(task))}; in flight to nodes "
        f"{_read(lambda: sorted(sender._in_flight))}; muted partitions "
        f"{_read(lambda: len(sender._muted_partitions))}",
        f"  accumulator: waiter done={_read(lambda: acc._waiter_future.done())}, "
        f"closed={_read(lambda: acc._closed)}, exception={_read(lambda: acc._exception)!r}",
        f"  client: metadata update pending={_read(lambda: _md_pending(producer.client))}, "
        f"connections {_read(lambda: _connections(producer.client))}",
    ]
    now = time.monotonic()
    buffered = _read(lambda: [b for q in acc._batches.values() for b in q])
    pending = _read(lambda: list(acc._pending_batches))
    for label, batches in (("buffered", buffered), ("sent, not acknowledged", pending)):
        if not isinstance(batches, list):
            lines.append(f"  {label}: {batches}")
            continue
        lines.append(f"  {label}: {len(batches)} batches")
        for b in batches[:BATCHES_SHOWN]:
            lines.append(f"    {_batch(b, now, producer)}")
        if len(batches) > BATCHES_SHOWN:
            lines.append(f"    ... {len(batches) - BATCHES_SHOWN} more")
    return lines


def _batch(b: Any, now: float, producer: Any) -> str:
    tp = b.tp
    leader = _read(lambda: producer.client.cluster.leader_for_partition(tp))
    muted = _read(lambda: tp in producer._sender._muted_partitions)
    return (
        f"{tp.topic}[{tp.partition}]: {_read(lambda: b.record_count)} records, "
        f"age {now - b._ctime:.1f} s, retries {b.retry_count}, "
        f"future done={b.future.done()}, drained={_read(lambda: b._drain_waiter.done())}, "
        f"leader {leader}, muted={muted}"
    )


def _task_state(task: Any) -> str:
    if task is None:
        return "none"
    if not task.done():
        return "running"
    if task.cancelled():
        return "cancelled"
    return f"done ({task.exception()!r})"


def describe_client(name: str, client: Any) -> list[str]:
    """An aiokafka client's metadata synchronizer (the task every metadata refresh, and
    so every coordinator lookup, waits on) and its pending refresh."""
    task = _read(lambda: client._sync_task)
    lines = [
        f"  {name} client: metadata synchronizer {_read(lambda: _task_state(task))}; "
        f"refresh pending={_read(lambda: _md_pending(client))}, "
        f"waiter done={_read(lambda: client._md_update_waiter.done())}"
    ]
    exc = _read(lambda: task.exception() if task.done() and not task.cancelled() else None)
    if isinstance(exc, BaseException):
        lines.extend("    " + x for x in "".join(traceback.format_exception(exc)).splitlines())
    return lines


def _coordinator(coordinator: Any) -> str:
    return (
        f"{type(coordinator).__name__} coordinator_id={coordinator.coordinator_id}, "
        f"lookup lock held={coordinator._coordinator_lookup_lock.locked()}"
    )


def _md_pending(client: Any) -> Any:
    fut = client._md_update_fut
    return fut is not None and not fut.done()


def _connections(client: Any) -> list[str]:
    return [
        f"{node}/{group}: connected={conn.connected()}"
        for (node, group), conn in client._conns.items()
    ]


def _commits(app: Any, tps: Iterable[Any]) -> list[str]:
    consumer = app.consumer
    unacked: dict[Any, list[int]] = {}
    for message in _read(lambda: list(consumer._unacked_messages)) or ():
        if hasattr(message, "tp"):
            unacked.setdefault(message.tp, []).append(message.offset)
    lines = [
        f"  commit under way={_read(lambda: consumer._commit_fut is not None)}; "
        f"messages handed to streams and not acked: {sum(len(v) for v in unacked.values())}"
    ]
    for tp in tps:
        acked = _read(partial(_acked, consumer, tp))
        gaps = _read(partial(_gaps, consumer, tp))
        committed = _read(partial(_committed, consumer, tp))
        waiting = sorted(unacked.get(tp, ()))
        span = (
            f"{acked[0]}..{acked[-1]} ({len(acked)})"
            if isinstance(acked, list) and acked
            else acked
        )
        lines.append(
            f"  {tp.topic}[{tp.partition}]: committed {committed}; acked {span}; gaps {gaps}; "
            f"not acked {len(waiting)}" + (f" from {waiting[0]}" if waiting else "")
        )
    return lines


def _acked(consumer: Any, tp: Any) -> list[int]:
    return sorted(consumer._acked.get(tp, ()))


def _gaps(consumer: Any, tp: Any) -> int:
    return len(consumer._gap.get(tp, ()))


def _committed(consumer: Any, tp: Any) -> Any:
    return consumer._committed_offset.get(tp)


def dump_on_signal(app: Any, signum: int = signal.SIGUSR1) -> Callable[[], Any]:
    """A task for `app.task`: from then on `signum` logs `describe_worker` (in place of
    mode's own SIGUSR1 handler, which prints each task's outermost frame only)."""

    async def install() -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(
            signum, lambda: log.warning("worker state on signal:\n%s", describe_worker(app))
        )

    return install
