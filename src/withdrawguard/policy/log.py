"""Reading and writing the policies topic, and reading the policy-audit topic, with
kafka-python (the CLI, the backtest).

`read_catalog` reads the compacted topic from its start to its end as it was when the
read began; a record that cannot be read is reported through `warn` and skipped, as a
worker skips it. Both reads see committed records only. `append` writes an action's
records, the policies first and the audit record last, in one transaction
(`adapters/policy_writes.py`): a failure part-way leaves nothing of the change.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from withdrawguard.adapters.kafka_security import kafka_python_options
from withdrawguard.adapters.policy_writes import write_sync
from withdrawguard.contract import topics as t
from withdrawguard.policy.actions import Plan
from withdrawguard.policy.audit import AuditEntry, AuditError
from withdrawguard.policy.versions import Catalog, RecordError
from withdrawguard.settings import Settings

TOPIC_WAIT_S = 5.0
"""How long a read waits for a topic to show in the broker's metadata."""


class PolicyLogError(RuntimeError):
    """The policies topic cannot be read or written (no broker, no topic)."""


def read_catalog(
    settings: Settings, warn: Callable[[str], None] = print, timeout_s: float = 30
) -> Catalog:
    catalog = Catalog()
    name = t.TopicNames(settings).name(t.POLICIES)
    for partition, offset, key, value in _records(settings, name, timeout_s):
        try:
            catalog.apply(key, value)
        except RecordError as exc:
            warn(f"skipped {name}[{partition}]@{offset}: {exc}")
    return catalog


def read_audit(
    settings: Settings, warn: Callable[[str], None] = print, timeout_s: float = 30
) -> list[AuditEntry]:
    """Every policy action on the `policy-audit` topic, oldest first."""
    entries: list[AuditEntry] = []
    name = t.TopicNames(settings).name(t.POLICY_AUDIT)
    for partition, offset, _key, value in _records(settings, name, timeout_s):
        try:
            entries.append(AuditEntry.parse(value))
        except AuditError as exc:
            warn(f"skipped {name}[{partition}]@{offset}: {exc}")
    return sorted(entries, key=lambda e: e.at)


def _records(
    settings: Settings, name: str, timeout_s: float
) -> Iterator[tuple[int, int, bytes | None, bytes | None]]:
    """(partition, offset, key, value) of every record of topic `name`, from its start to
    the end it had when the read began."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        isolation_level="read_committed",
        **kafka_python_options(settings),
    )
    try:
        partitions = _partitions(consumer, name, min(timeout_s, TOPIC_WAIT_S))
        parts = [TopicPartition(name, p) for p in sorted(partitions)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends: dict[Any, int] = consumer.end_offsets(parts)
        deadline = time.monotonic() + timeout_s
        # By position, not by the last record's offset: a transaction's commit marker
        # takes an offset of its own, so the last record can sit before the end.
        left = {tp for tp in parts if consumer.position(tp) < ends[tp]}
        while left:
            if time.monotonic() > deadline:
                raise PolicyLogError(f"timed out reading {name} after {timeout_s:.0f} s")
            for tp, records in consumer.poll(timeout_ms=500).items():
                for record in records:
                    if record.offset < ends[tp]:
                        yield record.partition, record.offset, record.key, record.value
            left = {tp for tp in left if consumer.position(tp) < ends[tp]}
    finally:
        consumer.close()


def _partitions(consumer: KafkaConsumer, name: str, wait_s: float) -> set[int]:
    """The partitions of topic `name`; PolicyLogError if it does not exist. A topic just
    created (`topics create`, then a command at once) may take a moment to show in the
    broker's metadata: asked again for up to `wait_s`."""
    deadline = time.monotonic() + wait_s
    while True:
        partitions = consumer.partitions_for_topic(name)
        if partitions:
            return set(partitions)
        if time.monotonic() > deadline:
            raise PolicyLogError(f"topic {name} does not exist: run `withdrawguard topics create`")
        time.sleep(0.2)
        consumer.topics()  # a fresh metadata request


def append(settings: Settings, plan: Plan, timeout_s: float = 30) -> None:
    """Write `plan`'s records in one transaction: all of them, or none."""
    audit_key = (plan.version or "none").encode()
    try:
        write_sync(settings, plan.policies, (audit_key, plan.audit), timeout_s)
    except KafkaError as exc:
        raise PolicyLogError(
            f"{plan.action} not written, nothing of it applies: the broker at "
            f"{settings.kafka_bootstrap} did not take it ({type(exc).__name__}: {exc})"
        ) from None
