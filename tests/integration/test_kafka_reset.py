"""The broker restart wedge of issue 25, on the real broker and the worker's loop (uvloop).

A connection is reset while a response is half received and while aiokafka's metadata
synchronizer is about to run: the reset reaches the loop first (it closes the socket and
feeds EOF to the reader), the synchronizer runs before the connection's read task, finds
the connection still "connected" (the half response keeps the reader from being at EOF)
and writes a metadata request on it. `streaming/faust_internals/kafka_client.py`
explains the rest.

The half-received response is two bytes fed to the connection's reader, and the reset is
`transport.abort()`, in the order a broker's SIGKILL delivers them in the worker's log of
the wedged run (docs/reliability.md); nothing stands in for Kafka.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import uvloop
from aiokafka.client import AIOKafkaClient

from withdrawguard.streaming.faust_internals.kafka_client import ResetSafeClient, reset_safe

pytestmark = pytest.mark.integration


async def _reset_before_the_synchronizer_runs(client: Any) -> tuple[BaseException | None, bool]:
    """Reset the client's connection as the broker's death does, then ask for metadata
    again: (how the synchronizer ended, or None; whether the next refresh resolved)."""
    await client.bootstrap()
    node = next(b.nodeId for b in client.cluster.brokers())
    assert await client.ready(node)
    conn = client._conns[(node, 0)]  # noqa: SLF001 - the connection the reset hits
    try:
        # a response cut short: its first two bytes
        conn._reader.feed_data(b"\x00\x00")  # noqa: SLF001 - as the socket would
        for _ in range(3):
            await asyncio.sleep(0)  # the read task takes them and waits for the rest
        client.force_metadata_update()  # wakes the synchronizer...
        # ...and the reset reaches the loop before it runs
        conn._writer.transport.abort()  # noqa: SLF001 - as the broker's death does
        await asyncio.sleep(1)
        task = client._sync_task  # noqa: SLF001 - the metadata synchronizer the bug ends
        ended = task.exception() if task.done() and not task.cancelled() else None
        try:
            await asyncio.wait_for(client.force_metadata_update(), 10)
            refreshed = True
        except TimeoutError:
            refreshed = False
        return ended, refreshed
    finally:
        if not client._sync_task.done():  # noqa: SLF001 - the same task
            await client.close()


def test_on_uvloop_aiokafkas_metadata_synchronizer_dies_of_a_reset_it_sees_late(
    services: tuple[str, str],
) -> None:
    """The cause, shown on aiokafka's own client: the synchronizer ends with uvloop's
    RuntimeError and no metadata refresh ever resolves again."""

    async def run() -> tuple[BaseException | None, bool]:
        client = AIOKafkaClient(bootstrap_servers=services[0])
        return await _reset_before_the_synchronizer_runs(client)

    ended, refreshed = uvloop.run(run())
    assert isinstance(ended, RuntimeError) and "handler is closed" in str(ended)
    assert not refreshed


def test_a_reset_safe_client_survives_the_same_reset_and_refreshes_metadata(
    services: tuple[str, str],
) -> None:
    async def run() -> tuple[BaseException | None, bool]:
        client = reset_safe(AIOKafkaClient(bootstrap_servers=services[0]))
        assert isinstance(client, ResetSafeClient)
        return await _reset_before_the_synchronizer_runs(client)

    ended, refreshed = uvloop.run(run())
    assert ended is None
    assert refreshed
