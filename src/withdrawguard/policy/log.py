"""Reading and writing the policies topic, and reading the policy-audit topic, with
kafka-python (the CLI, the backtest).

`read_catalog` reads the compacted topic from its start to its end as it was when the
read began; a record that cannot be read is reported through `warn` and skipped, as a
worker skips it. `append` writes an action's records and waits for the broker's
acknowledgement of every one (acks=all), the policies first and the audit record last.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from withdrawguard.adapters.kafka_security import kafka_python_options
from withdrawguard.contract import topics as t
from withdrawguard.policy.actions import Plan
from withdrawguard.policy.audit import AuditEntry, AuditError
from withdrawguard.policy.versions import Catalog, RecordError
from withdrawguard.settings import Settings


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
        consumer_timeout_ms=int(timeout_s * 1000),
        **kafka_python_options(settings),
    )
    try:
        partitions = consumer.partitions_for_topic(name)
        if not partitions:
            raise PolicyLogError(f"topic {name} does not exist: run `withdrawguard topics create`")
        parts = [TopicPartition(name, p) for p in sorted(partitions)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends: dict[Any, int] = consumer.end_offsets(parts)
        left = {tp for tp in parts if ends[tp] > consumer.position(tp)}
        for record in consumer if left else ():
            tp = TopicPartition(record.topic, record.partition)
            yield record.partition, record.offset, record.key, record.value
            if record.offset + 1 >= ends[tp]:
                left.discard(tp)
            if not left:
                break
        if left:
            raise PolicyLogError(f"timed out reading {name} after {timeout_s:.0f} s")
    finally:
        consumer.close()


def append(settings: Settings, plan: Plan, timeout_s: float = 30) -> None:
    names = t.TopicNames(settings)
    producer = KafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        acks="all",
        **kafka_python_options(settings),
    )
    try:
        for key, value in plan.policies:
            producer.send(names.name(t.POLICIES), key=key, value=value).get(timeout=timeout_s)
        audit_key = (plan.version or "none").encode()
        producer.send(names.name(t.POLICY_AUDIT), key=audit_key, value=plan.audit).get(
            timeout=timeout_s
        )
    finally:
        producer.close()
