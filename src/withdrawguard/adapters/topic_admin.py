"""Topic administration with kafka-python: create what is missing, report what exists."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from withdrawguard.adapters.kafka_security import kafka_python_options
from withdrawguard.contract.topics import TopicNames
from withdrawguard.settings import Settings


@dataclass(frozen=True, slots=True)
class TopicReport:
    name: str
    created: bool
    partitions: int


class TopicMismatch(RuntimeError):
    """An existing input topic has another partition count than the co-partitioned set."""


def create_topics(settings: Settings, log: Callable[[str], None] = print) -> list[TopicReport]:
    """Create every topic that does not exist yet, and the tables' changelog topics.
    Idempotent.

    Faust would create the changelogs itself, but a worker whose first start creates
    them may be assigned its partitions before the new topics reach its metadata; a
    table write then fails with PartitionsMismatch ("changelog topic has 0 partitions")
    until the metadata is refreshed, minutes later (the fault suite saw every
    ip-observation dead-lettered that way). Made beforehand, they are known from the start."""
    admin = KafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.app_id}-admin",
        **kafka_python_options(settings),
    )
    try:
        existing = _partition_counts(admin)
        names = TopicNames(settings)
        missing = [
            NewTopic(
                name=name,
                num_partitions=spec.partitions or settings.partitions,
                replication_factor=settings.replication_factor,
                topic_configs=dict(spec.config),
            )
            for name, spec in names.all()
            if name not in existing
        ]
        missing += [
            NewTopic(
                name=name,
                num_partitions=settings.partitions,
                replication_factor=settings.replication_factor,
                topic_configs={"cleanup.policy": "compact"},
            )
            for name in names.changelogs()
            if name not in existing
        ]
        if missing:
            # A concurrent creator may win the race for some topic: that is fine.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(missing, timeout_ms=30_000)
        counts = _partition_counts(admin)
    finally:
        admin.close()
    reports = []
    created = {t.name for t in missing}
    for name, _spec in names.all():
        report = TopicReport(name, name in created, counts.get(name, 0))
        verb = "created" if report.created else "exists "
        log(f"{verb}  {name}  ({report.partitions} partitions)")
        reports.append(report)
    inputs = {n: counts.get(n, 0) for n in names.inputs()}
    if len(set(inputs.values())) > 1:
        raise TopicMismatch(
            "input topics must be co-partitioned (same partition count), found "
            + ", ".join(f"{n}={c}" for n, c in inputs.items())
        )
    return reports


def _partition_counts(admin: KafkaAdminClient) -> dict[str, int]:
    described = admin.describe_topics()
    return {t["name"]: len(t["partitions"]) for t in described if not t.get("error_code")}
