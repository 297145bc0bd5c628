"""A policy action's records written in one Kafka transaction: all or none.

A change writes one or more records to `policies` (a version, a pointer; promote moves
two pointers) and one to `policy-audit`. Written one after another, a failure between
them (the broker gone, the audit topic refused by an ACL or deleted) left part of the
change live: a pointer moved with no audit record, or a promoted version still named
as the shadow. Inside a transaction the records become visible together when it
commits; on any failure it is aborted and readers never see them, because every reader
of the two topics reads committed records only (`isolation_level="read_committed"`:
`policy/log.py` for the CLI and the backtest, `streaming/control/reader.py` for the
workers' feeds). tests/integration/test_policy_writes.py shows a change whose audit
record is refused leaving the catalog as it was.

Each producer has a transactional id of its own (`<app id>-policy-<random>`): writers
never fence each other, and an ACL grant for the prefix `<app id>-policy-` covers them
(docs/security.md). A transaction left open by a writer that died is aborted by the
broker after `TRANSACTION_TIMEOUT_MS`; until then readers of `policies` wait at it.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from kafka import KafkaProducer

from withdrawguard.adapters.kafka_security import kafka_python_options
from withdrawguard.contract import topics as t
from withdrawguard.settings import Settings

TRANSACTION_TIMEOUT_MS = 15_000
"""How long the broker keeps a writer's open transaction before it aborts it."""

Records = Sequence[tuple[bytes, bytes]]
Written = tuple[tuple[int, int], tuple[int, int]]
"""(partition, offset) of the last `policies` record, and of the audit record."""


def transactional_id(settings: Settings) -> str:
    return f"{settings.app_id}-policy-{secrets.token_hex(4)}"


def write_sync(
    settings: Settings, policies: Records, audit: tuple[bytes, bytes], timeout_s: float = 30
) -> Written:
    """Write `policies` then the audit record in one transaction (kafka-python, for the
    CLI); raises what the broker or the client raised, having aborted the transaction."""
    names = t.TopicNames(settings)
    producer = KafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        transactional_id=transactional_id(settings),
        transaction_timeout_ms=TRANSACTION_TIMEOUT_MS,
        max_block_ms=int(timeout_s * 1000),
        **kafka_python_options(settings),
    )
    try:
        producer.init_transactions()
        producer.begin_transaction()
        try:
            last: Any = None
            for key, value in policies:
                last = producer.send(names.name(t.POLICIES), key=key, value=value)
                last = last.get(timeout=timeout_s)
            sent = producer.send(names.name(t.POLICY_AUDIT), key=audit[0], value=audit[1])
            done = sent.get(timeout=timeout_s)
            producer.commit_transaction()
        except BaseException:
            _abort(producer.abort_transaction)
            raise
        return (last.partition, last.offset), (done.partition, done.offset)
    finally:
        producer.close(timeout=timeout_s)


class PolicyWriter:
    """The worker's writer for the console's policy actions (aiokafka): started on first
    use, and made anew after a failure (a transactional producer that failed mid-way
    cannot be trusted for the next one)."""

    def __init__(self, settings: Settings, timeout_s: float = 30) -> None:
        self.settings = settings
        self.timeout_ms = int(timeout_s * 1000)
        self._producer: AIOKafkaProducer | None = None

    async def __call__(self, policies: Records, audit: tuple[bytes, bytes]) -> Written:
        names = t.TopicNames(self.settings)
        producer = await self._started()
        try:
            async with producer.transaction():
                last: Any = None
                for key, value in policies:
                    last = await producer.send_and_wait(names.name(t.POLICIES), value, key=key)
                topic = names.name(t.POLICY_AUDIT)
                done = await producer.send_and_wait(topic, audit[1], key=audit[0])
        except BaseException:
            await self.close()
            raise
        return (last.partition, last.offset), (done.partition, done.offset)

    async def _started(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.settings.bootstrap_servers,
                transactional_id=transactional_id(self.settings),
                transaction_timeout_ms=TRANSACTION_TIMEOUT_MS,
                request_timeout_ms=self.timeout_ms,
                **kafka_python_options(self.settings),
            )
            try:
                await producer.start()  # finds the coordinator: an ACL may refuse it here
            except BaseException:
                await _abort_async(producer.stop)  # or its connections stay open
                raise
            self._producer = producer
        return self._producer

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await _abort_async(producer.stop)


def _abort(step: Any) -> None:
    """Run a clean-up step whose own failure must not hide the first error."""
    with contextlib.suppress(Exception):
        step()


async def _abort_async(step: Any) -> None:
    with contextlib.suppress(Exception):
        await step()
