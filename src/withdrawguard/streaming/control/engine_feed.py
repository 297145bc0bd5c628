"""Every worker follows the policies topic and switches engines without a restart.

Each worker reads the whole topic (one partition; no consumer group, so every worker
sees every record) from its start, folds it into the catalog, and once it has read to
the end it names the engines to run (`policy/engines.py`) and hands them to the
pipeline. The pipeline takes them between batches: a batch is decided by one version,
and its verdicts carry that version's id in `detector_version`. Until the first
catch-up is done the agents wait (`EngineFeed.ready`), so a worker that starts or
takes partitions over decides with the version that is live, never with a stale one.

A record that cannot be read is logged and skipped; the reader reconnects after any
broker error and reads the topic again from its start (it is compacted and small). A
topic that does not exist holds no version: the worker runs the policy it started with.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from withdrawguard.contract import topics as t
from withdrawguard.engine.decide import Engine
from withdrawguard.policy.engines import EngineSelection
from withdrawguard.policy.versions import Catalog, RecordError
from withdrawguard.settings import Settings
from withdrawguard.streaming.control.reader import (
    follow_forever,
    group_free_consumer,
    partitions_of,
)

log = logging.getLogger(__name__)

Switch = Callable[[Engine, Engine | None], None]


class EngineFeed:
    def __init__(self, settings: Settings, selection: EngineSelection, switch: Switch) -> None:
        self.settings = settings
        self.selection = selection
        self.switch = switch
        self.ready = asyncio.Event()
        self.topic = t.TopicNames(settings).name(t.POLICIES)

    async def run(self) -> None:
        """Follow the topic until cancelled, reconnecting after any failure."""
        await follow_forever(self._follow, f"engine feed ({self.topic})", log)

    async def _follow(self) -> None:
        consumer = group_free_consumer(self.settings, "policy-watch")
        await consumer.start()
        try:
            try:
                parts = await partitions_of(consumer, self.topic)
            except LookupError:
                # Nothing was ever published: the version the worker started with is
                # live. Look again later (the worker creates the topic when it starts).
                self._select(Catalog())
                raise
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            ends = await consumer.end_offsets(parts)
            catalog = Catalog()
            caught_up = False
            while True:
                moved = False
                fetched = await consumer.getmany(*parts, timeout_ms=500)
                for records in fetched.values():
                    for r in records:
                        moved |= self._fold(catalog, r.key, r.value, r.partition, r.offset)
                if not caught_up:
                    positions = [await consumer.position(tp) for tp in parts]
                    caught_up = all(
                        pos >= ends[tp] for pos, tp in zip(positions, parts, strict=True)
                    )
                    if not caught_up:
                        continue
                    moved = True
                if moved:
                    self._select(catalog)
        finally:
            await consumer.stop()

    def _fold(
        self, catalog: Catalog, key: bytes | None, value: bytes | None, part: int, offset: int
    ) -> bool:
        try:
            return catalog.apply(key, value) is not None
        except RecordError as exc:
            log.error("engine feed: skipped %s[%s]@%s: %s", self.topic, part, offset, exc)
            return False

    def _select(self, catalog: Catalog) -> None:
        if self.selection.update(catalog) or not self.ready.is_set():
            self.switch(self.selection.live, self.selection.shadow)
        if not self.ready.is_set():
            live = self.selection.live.policy_id
            shadow = self.selection.shadow.policy_id if self.selection.shadow else "none"
            log.info("engine feed: read %s; live %s, shadow %s", self.topic, live, shadow)
            self.ready.set()
