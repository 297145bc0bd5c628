"""aiokafka's client, made safe for a connection reset that uvloop reports first.

The broker restart wedge (issue 25, docs/reliability.md, *A broker restart wedged the
worker*): when the broker dies in the middle of sending a response, the worker's loop
(uvloop) closes the socket's handle and feeds EOF to the connection's reader, but the
half-received response is still in the reader's buffer, so aiokafka's
`AIOKafkaConnection.connected()` (reader not at EOF) still says yes until its read task
runs. A task that runs before it and writes a request on that connection gets uvloop's
`RuntimeError("unable to perform operation on <TCPTransport closed=True ...>; the
handler is closed")` (asyncio's own loop ignores such a write). aiokafka catches only
`OSError` around the write and `KafkaError` above it, so the error ends whichever task
wrote. When that task is the client's metadata synchronizer, nothing ever resolves a
metadata refresh again: the group coordinator's lookup awaits one forever, holding its
lock; the offset commit and the heartbeat wait for that lock; Faust's fetch loop waits
for the commit. The worker is alive, idle, and commits nothing.

`ResetSafeClient` closes such a connection the moment it is asked for it (before anyone
writes on it), as aiokafka does itself a moment later, and treats uvloop's error while a
new connection is being opened like any other failure to connect. Every request goes
through `_get_conn` (`send`, `ready`, the metadata update), with no await between getting
the connection and writing on it.

`reset_safe(client)` applies it to a client aiokafka has just built inside a consumer or
producer (they construct their `AIOKafkaClient` themselves, with no parameter for the
class); `reset_safe_consumer` to our own consumers (the sinks, the control feeds).
Written for aiokafka 0.14 (`faust_internals.check_versions`).
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka.client import AIOKafkaClient, ConnectionGroup
from aiokafka.conn import CloseReason

log = logging.getLogger(__name__)


class ResetSafeClient(AIOKafkaClient):  # type: ignore[misc]  # aiokafka is untyped
    async def _get_conn(
        self, node_id: Any, *, group: Any = ConnectionGroup.DEFAULT, no_hint: bool = False
    ) -> Any:
        conn = self._conns.get((node_id, group))
        if conn is not None and conn.connected() and _transport_closing(conn):
            # The socket is gone but aiokafka's read task has not heard yet: writing on it
            # would raise from uvloop. Close it now, as that task will; it fails the
            # connection's pending requests and asks for fresh metadata.
            log.info("connection to node %s was reset; closing it before reuse", node_id)
            conn.close(reason=CloseReason.CONNECTION_BROKEN)
        try:
            return await super()._get_conn(node_id, group=group, no_hint=no_hint)
        except RuntimeError as exc:
            # uvloop: the peer reset the new connection while aiokafka's handshake wrote
            # its first request. aiokafka has closed it; answer as for any failed connect.
            log.error("Unable connect to node with id %s: %s", node_id, exc)
            self.force_metadata_update()
            return None


def _transport_closing(conn: Any) -> bool:
    writer = conn._writer  # aiokafka keeps the stream writer private
    return writer is not None and bool(writer.transport.is_closing())


def reset_safe(client: Any) -> Any:
    """Make `client` (a new `AIOKafkaClient`, not started) a `ResetSafeClient`. It only
    changes `_get_conn`, so the object aiokafka built is kept as it is."""
    if type(client) is not AIOKafkaClient:
        raise TypeError(f"expected an AIOKafkaClient, got {type(client).__name__}")
    client.__class__ = ResetSafeClient
    return client


def reset_safe_consumer(consumer: Any) -> Any:
    """`consumer` (a new `AIOKafkaConsumer`, not started) with a reset-safe client."""
    reset_safe(consumer._client)  # aiokafka keeps the consumer's client private
    return consumer
