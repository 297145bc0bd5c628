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
    replication_factor: int = 0


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
        existing = _describe(admin)
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
        described = _describe(admin)
    finally:
        admin.close()
    reports = []
    created = {t.name for t in missing}
    for name, _spec in names.all():
        report = TopicReport(name, name in created, *described.get(name, (0, 0)))
        verb = "created" if report.created else "exists "
        log(
            f"{verb}  {name}  ({report.partitions} partitions){_replication_note(report, settings)}"
        )
        reports.append(report)
    inputs = {n: described.get(n, (0, 0))[0] for n in names.inputs()}
    if len(set(inputs.values())) > 1:
        raise TopicMismatch(
            "input topics must be co-partitioned (same partition count), found "
            + ", ".join(f"{n}={c}" for n, c in inputs.items())
        )
    return reports


def _replication_note(report: TopicReport, settings: Settings) -> str:
    """A warning for a topic made before WG_REPLICATION_FACTOR was raised (for example on
    a single broker, then moved): Kafka keeps its replication factor, and a broker loss
    then loses its partitions; a reassignment (kafka-reassign-partitions) raises it."""
    if 0 < report.replication_factor < settings.replication_factor:
        return (
            f"  WARNING: replication factor {report.replication_factor}, below "
            f"WG_REPLICATION_FACTOR={settings.replication_factor}"
        )
    return ""


def _describe(admin: KafkaAdminClient) -> dict[str, tuple[int, int]]:
    """topic -> (partitions, replication factor: the fewest replicas of any partition)."""
    return {
        t["name"]: (
            len(t["partitions"]),
            min((len(p["replica_nodes"]) for p in t["partitions"]), default=0),
        )
        for t in admin.describe_topics()
        if not t.get("error_code")
    }
