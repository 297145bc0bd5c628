"""What the console's policy page shows, read by every worker from the topics themselves:
the catalog (`policies`), live against shadow (`shadow-decisions`) and the latest policy
actions (`policy-audit`).

One aiokafka consumer without a group reads every partition of the three, so every
worker's page shows the same catalog and the same totals whichever worker serves it. The
policies topic is read from its start (it is compacted and small); the audit topic from
its last `TRAIL` records (it is never compacted: it only grows). Comparisons are
read from when the current (live, shadow) pair began, the later of the two pointers'
times (`offsets_for_times`), into a `ShadowTally` of that pair; when a pointer moves
the tally starts again from the new pair's start. After any broker error the reader
reconnects and reads both again, as `engine_feed.py` does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from withdrawguard.contract import topics as t
from withdrawguard.policy.audit import AuditEntry, AuditError
from withdrawguard.policy.shadow_tally import ShadowTally
from withdrawguard.policy.versions import Catalog, RecordError
from withdrawguard.settings import Settings
from withdrawguard.streaming.control.reader import (
    follow_forever,
    group_free_consumer,
    partitions_of,
)

log = logging.getLogger(__name__)

Pair = tuple[str | None, str | None]
TRAIL = 50
"""How many of the latest policy actions the page shows."""


class PolicyFeed:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        names = t.TopicNames(settings)
        self.policies = names.name(t.POLICIES)
        self.shadow_decisions = names.name(t.SHADOW_DECISIONS)
        self.policy_audit = names.name(t.POLICY_AUDIT)
        self.catalog: Catalog | None = None
        """The catalog as the topic says, once it has been read to its end (None before)."""
        self.tally = ShadowTally(None, None)
        self.trail: deque[AuditEntry] = deque(maxlen=TRAIL)
        """The latest policy actions as read, oldest first."""
        self._read: dict[tuple[str, int], int] = {}
        """(topic, partition) of the policies and audit topics -> the next offset to read."""

    async def run(self) -> None:
        """Follow both topics until cancelled, reconnecting after any failure."""
        await follow_forever(self._follow, "policy page feed", log)

    async def wait_read(self, partition: int, offset: int, timeout_s: float = 10) -> bool:
        """Wait until the record at `offset` of the policies topic has been read; False
        if it was not within `timeout_s`."""
        return await self._wait((self.policies, partition), offset, timeout_s)

    async def wait_audit(self, partition: int, offset: int, timeout_s: float = 10) -> bool:
        """The same for the record at `offset` of the audit topic."""
        return await self._wait((self.policy_audit, partition), offset, timeout_s)

    async def _wait(self, where: tuple[str, int], offset: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while self._read.get(where, 0) <= offset:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def _follow(self) -> None:
        consumer = group_free_consumer(self.settings, "policy-page")
        await consumer.start()
        try:
            policies = await partitions_of(consumer, self.policies)
            shadows = await partitions_of(consumer, self.shadow_decisions)
            audits = await partitions_of(consumer, self.policy_audit)
            consumer.assign(policies + shadows + audits)
            await consumer.seek_to_beginning(*policies)
            await self._seek_last(consumer, audits)
            await self._seek(consumer, shadows, {})  # to the end until the pair is known
            ends = await consumer.end_offsets(policies)
            catalog = Catalog()
            pair: Pair | None = None
            while True:
                fetched = await consumer.getmany(timeout_ms=500)
                for tp, records in fetched.items():
                    for r in records:
                        if tp.topic == self.policies:
                            self._fold(catalog, r.key, r.value, r.partition, r.offset)
                        elif tp.topic == self.policy_audit:
                            self._note(r.value, r.partition, r.offset)
                        else:
                            self.tally.add(r.value)
                if self.catalog is not catalog:
                    positions = [await consumer.position(tp) for tp in policies]
                    if any(pos < ends[tp] for pos, tp in zip(positions, policies, strict=True)):
                        continue
                    self.catalog = catalog
                if (catalog.live, catalog.shadow) != pair:
                    pair = (catalog.live, catalog.shadow)
                    await self._restart_tally(consumer, catalog, shadows)
        finally:
            await consumer.stop()

    def _fold(
        self, catalog: Catalog, key: bytes | None, value: bytes | None, part: int, offset: int
    ) -> None:
        try:
            catalog.apply(key, value)
        except RecordError as exc:
            log.error("policy page feed: skipped %s[%s]@%s: %s", self.policies, part, offset, exc)
        self._read[(self.policies, part)] = offset + 1

    def _note(self, value: bytes | None, part: int, offset: int) -> None:
        try:
            self.trail.append(AuditEntry.parse(value))
        except AuditError as exc:
            log.error(
                "policy page feed: skipped %s[%s]@%s: %s", self.policy_audit, part, offset, exc
            )
        self._read[(self.policy_audit, part)] = offset + 1

    async def _seek_last(self, consumer: AIOKafkaConsumer, parts: list[TopicPartition]) -> None:
        """Far enough back for the last `TRAIL` records of each partition (the trail
        starts again empty, and keeps the latest `TRAIL`). Twice as far: each action is
        a transaction, whose commit marker takes an offset of its own."""
        self.trail.clear()
        starts = await consumer.beginning_offsets(parts)
        ends = await consumer.end_offsets(parts)
        for tp in parts:
            consumer.seek(tp, max(starts[tp], ends[tp] - 2 * TRAIL))

    async def _restart_tally(
        self, consumer: AIOKafkaConsumer, catalog: Catalog, shadows: list[TopicPartition]
    ) -> None:
        """A fresh tally of the catalog's pair, read from the time the pair began."""
        since = max((p.at for p in catalog.pointers.values()), default=0)
        self.tally = ShadowTally(catalog.live, catalog.shadow, since)
        if catalog.shadow is not None:
            await self._seek(consumer, shadows, dict.fromkeys(shadows, since))

    async def _seek(
        self, consumer: AIOKafkaConsumer, parts: list[TopicPartition], times: dict[Any, int]
    ) -> None:
        """To the first record at or after each partition's time, else to its end.

        Explicit offsets, not `seek_to_end`: that one is resolved at a later fetch and
        skipped records written in between. The end offsets are asked first, so a record
        after them is either found by its time or read from there.
        """
        ends = await consumer.end_offsets(parts)
        found = await consumer.offsets_for_times(times) if times else {}
        for tp in parts:
            at = found.get(tp)
            consumer.seek(tp, ends[tp] if at is None else at.offset)
