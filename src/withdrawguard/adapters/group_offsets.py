"""A consumer group's progress, asked of the broker on connections of its own.

The worker's lag gauge and stall guard must keep answering when the worker's own Kafka
consumer is stuck (that is when they matter), so they do not go through it: this reads
log end offsets and the group's committed offsets with an aiokafka admin client and a
group-less aiokafka consumer of its own, on the worker's event loop.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from withdrawguard.adapters.kafka_security import kafka_python_options
from withdrawguard.settings import Settings

REQUEST_TIMEOUT_MS = 10_000


class GroupOffsets:
    def __init__(self, settings: Settings, group: str) -> None:
        self._settings = settings
        self._group = group
        self._admin: AIOKafkaAdminClient | None = None
        self._probe: AIOKafkaConsumer | None = None

    async def read(
        self, parts: Iterable[tuple[str, int]]
    ) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], int]]:
        """(log end offsets, committed offsets) of (topic, partition) pairs; a partition
        the group never committed is absent from the second. Raises on failure (the
        clients are then made anew on the next call)."""
        tps = [TopicPartition(topic, partition) for topic, partition in parts]
        if not tps:
            return {}, {}
        try:
            admin, probe = await self._clients()
            ends = await probe.end_offsets(tps)
            done = await admin.list_consumer_group_offsets(self._group, partitions=tps)
        except BaseException:
            await self.close()
            raise
        return (
            {(tp.topic, tp.partition): end for tp, end in ends.items()},
            {(tp.topic, tp.partition): o.offset for tp, o in done.items() if o.offset >= 0},
        )

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._probe is None:
            options: dict[str, Any] = {
                "bootstrap_servers": self._settings.bootstrap_servers,
                "request_timeout_ms": REQUEST_TIMEOUT_MS,
                "client_id": f"{self._group}-progress",
                **kafka_python_options(self._settings),  # aiokafka takes the same names
            }
            self._admin = AIOKafkaAdminClient(**options)
            self._probe = AIOKafkaConsumer(**options)
            await self._admin.start()
            await self._probe.start()
        return self._admin, self._probe

    async def close(self) -> None:
        admin, probe, self._admin, self._probe = self._admin, self._probe, None, None
        for stop in (admin and admin.close, probe and probe.stop):
            if stop is not None:
                with contextlib.suppress(Exception):  # it may have failed already
                    await stop()
