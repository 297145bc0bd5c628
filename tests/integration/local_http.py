"""A local HTTP receiver for the notification tests: aiohttp on 127.0.0.1, in a thread
of its own with its own event loop, every `POST /{kind}/{name}` handed to one handler."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from aiohttp import web

Handle = Callable[[web.Request], Awaitable[web.Response]]


@contextmanager
def serving(handle: Handle) -> Iterator[int]:
    """Serve `handle` until the block ends; yields the port."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    app = web.Application()
    app.router.add_post("/{kind}/{name}", handle)
    runner = web.AppRunner(app)
    port: list[int] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
        port.append(runner.addresses[0][1])
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10), "the local HTTP receiver did not start"
    try:
        yield port[0]
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
