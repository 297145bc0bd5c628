"""What Faust itself allows on this machine: trivial agents over the preloaded inputs.

    .venv/bin/python bench/faust_floor.py MODE BOOTSTRAP APP_ID DATA_DIR TOTAL TOPIC...

MODE is one of
- `events`: `stream.events()` and `orjson.loads` of every value, nothing else, on Faust's
  stock `kafka://` transport and settings;
- `events-wg`: the same agent on the worker's transport and Faust settings
  (`faust_internals.app_options`: the `wgkafka://` consumer whose drain loop waits
  interruptibly only when a hand-over could wait; `cython_optimizations`; the lean
  monitor of `faust_internals.sensors` in place of Faust's Monitor), issue 29;
- `table`: the same, and one RocksDB table value written per event (keyed by the
  record's key, the value itself), so one changelog record per event;
- `table-batch`: `stream.take_events(1000, within=0.005)`, one table value per distinct
  key of the batch (what the worker's batch agents pay for their state).

Each runs a Faust worker in this process, on uvloop as the worker does, without Faust's
spinner (the worker has none: see `main`), at concurrency 1, in a new consumer group
(`APP_ID`), and ends when it has seen TOTAL events: the time from the app's start to the
last event, and the process's CPU seconds, as one JSON line (bench/throughput.py runs it
beside the ceiling, the peer and the worker).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from typing import Any

import faust
import orjson
import uvloop

from withdrawguard.streaming import faust_internals
from withdrawguard.streaming.faust_internals.current_event import in_event

MODES = ("events", "events-wg", "table", "table-batch")


def build(
    mode: str, bootstrap: str, app_id: str, data_dir: str, total: int, topics: list[str]
) -> faust.App:
    project: dict[str, Any] = {}
    if mode == "events-wg":  # the worker's transport and Faust settings (streaming/app.py)
        project = {**faust_internals.app_options(f"kafka://{bootstrap}", memory_store=False)}
        project.update(faust_internals.SPEED_OPTIONS)
        del project["store"]  # the trivial agent has no table
    app = faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        store="rocksdb://",
        datadir=data_dir,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        topic_partitions=6,
        autodiscover=False,
        logging_config=None,
        producer_linger=0.005,
        broker_commit_every=10_000,
        **project,
    )
    if mode == "events-wg":
        faust_internals.lean_monitor(app)
    source = app.topic(
        *topics, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    table = app.Table("floor", default=None, key_type=bytes, value_type=bytes, partitions=6)
    seen = 0
    started, cpu0 = time.perf_counter(), time.process_time()  # start-up counts, as for all

    def count(n: int) -> None:
        nonlocal seen
        seen += n
        if seen >= total:
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu0
            figures = {"mode": mode, "events": seen, "seconds": seconds, "cpu_seconds": cpu}
            print(json.dumps(figures), flush=True)
            os._exit(0)  # the figure is out; no clean shutdown to wait for

    if mode in ("events", "events-wg"):

        @app.agent(source, concurrency=1)
        async def decode(stream: faust.StreamT[bytes]) -> Any:
            async for event in stream.events():
                orjson.loads(event.message.value)
                count(1)
                yield None

    elif mode == "table":

        @app.agent(source, concurrency=1)
        async def write(stream: faust.StreamT[bytes]) -> Any:
            async for event in stream.events():
                orjson.loads(event.message.value)
                table[event.message.key] = event.message.value
                count(1)
                yield None

    else:

        @app.agent(source, concurrency=1)
        async def batch(stream: faust.StreamT[bytes]) -> Any:
            async for events in stream.take_events(1000, within=0.005):
                last: dict[bytes, Any] = {}
                for event in events:
                    orjson.loads(event.message.value)
                    last[event.message.key] = event
                for key, event in last.items():
                    with in_event(event):
                        table[key] = event.message.value
                count(len(events))
                yield None

    return app


def main() -> None:
    mode, bootstrap, app_id, data_dir, total, *topics = sys.argv[1:]
    if mode not in MODES:
        sys.exit(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    logging.basicConfig(level=logging.WARNING)
    # The worker's event loop (worker/run.py), so the floor is the framework's on
    # the same loop, not asyncio's slower one.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    app = build(mode, bootstrap, app_id, data_dir, int(total), topics)
    asyncio.set_event_loop(asyncio.new_event_loop())
    app.main = lambda: None  # type: ignore[method-assign]  # no CLI: the worker below
    from faust.worker import Worker

    worker = Worker(app, loglevel="WARNING", quiet=True, redirect_stdouts=False)
    # Faust's worker at WARNING or above draws a spinner, and for it sets the root logger
    # to DEBUG: every debug call of Faust, mode and aiokafka then builds a log record (the
    # agent logs each value it yields), 20% of the trivial agent's CPU (7 December). The
    # withdrawguard worker runs at INFO, which turns the spinner off; so does this.
    worker.spinner = None
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
