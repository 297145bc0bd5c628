"""A policy action is written all or none, and the trail the console shows.

A change is records on `policies` and one on `policy-audit`, written in one transaction
(adapters/policy_writes.py). Here the broker refuses the audit record (its topic is
deleted, as an ACL refusing it would): the change fails with a clear error and nothing
of it is live, for the CLI's writer and for the console's. And the console's trail
(`PolicyFeed`) keeps the latest `TRAIL` (50) actions, where `policy audit` prints all.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka.errors import KafkaError as AIOKafkaError
from kafka import KafkaAdminClient

from tests.integration.harness import isolated_settings
from withdrawguard.adapters.kafka_security import kafka_python_options
from withdrawguard.adapters.policy_writes import PolicyWriter, write_sync
from withdrawguard.adapters.topic_admin import create_topics
from withdrawguard.contract import topics as t
from withdrawguard.policy import actions
from withdrawguard.policy.log import PolicyLogError, append, read_audit, read_catalog
from withdrawguard.policy.versions import Catalog
from withdrawguard.settings import Settings
from withdrawguard.streaming.control.policy_feed import TRAIL, PolicyFeed

pytestmark = pytest.mark.integration

NOW = 1_796_000_000_000


def text(hold_score: int) -> str:
    return f"[decision]\nhold_score = {hold_score}\n"


@pytest.fixture
def deployment(services: tuple[str, str], tmp_path: Path) -> Settings:
    return isolated_settings(services, "pw", tmp_path / ".data")


def delete_audit_topic(settings: Settings) -> None:
    admin = KafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, **kafka_python_options(settings)
    )
    try:
        admin.delete_topics([t.TopicNames(settings).name(t.POLICY_AUDIT)])
    finally:
        admin.close()


def published(settings: Settings, score: int, note: str) -> str:
    catalog = read_catalog(settings, warn=pytest.fail)
    plan = actions.publish(catalog, text(score), "ada", note, NOW, "live")
    append(settings, plan)
    assert plan.version is not None
    return plan.version


def test_a_change_whose_audit_record_is_refused_is_not_applied_at_all(
    deployment: Settings,
) -> None:
    first = published(deployment, 55, "the first")
    catalog = _with_shadow(deployment, read_catalog(deployment, warn=pytest.fail), 45)
    plan = actions.promote(catalog, "ada", "the broker refuses its audit", NOW + 2)
    delete_audit_topic(deployment)
    with pytest.raises(PolicyLogError) as failed:
        append(deployment, plan, timeout_s=5)
    assert str(failed.value).startswith("promote not written, nothing of it applies: the broker")
    after = read_catalog(deployment, warn=pytest.fail)
    # the shadow was published before the audit topic went; of the promotion (two
    # pointers, then the audit record) nothing is read: live and shadow are as they were
    assert (after.live, after.shadow) == (first, plan.version)
    create_topics(deployment, log=lambda _line: None)
    assert [e.action for e in read_audit(deployment, warn=pytest.fail)] == []


def _with_shadow(settings: Settings, catalog: Catalog, score: int) -> Catalog:
    plan = actions.publish(catalog, text(score), "ada", "a candidate", NOW + 1, "shadow")
    append(settings, plan)
    return read_catalog(settings, warn=pytest.fail)


def test_the_consoles_writer_applies_nothing_when_the_audit_record_is_refused(
    deployment: Settings,
) -> None:
    first = published(deployment, 55, "the first")
    catalog = read_catalog(deployment, warn=pytest.fail)
    plan = actions.publish(catalog, text(45), "ada", "refused", NOW + 1, "live")
    delete_audit_topic(deployment)
    writer = PolicyWriter(deployment, timeout_s=5)
    audit = ((plan.version or "none").encode(), plan.audit)

    async def attempt() -> None:
        try:
            with pytest.raises(AIOKafkaError):
                await writer(plan.policies, audit)
            refused = read_catalog(deployment, warn=pytest.fail)
            assert (refused.live, plan.version in refused.versions) == (first, False)
            create_topics(deployment, log=lambda _line: None)
            # the writer, made anew after the failure, writes the same action again
            await writer(plan.policies, audit)
        finally:
            await writer.close()

    asyncio.run(attempt())
    after = read_catalog(deployment, warn=pytest.fail)
    assert after.live == plan.version
    assert [e.note for e in read_audit(deployment, warn=pytest.fail)] == ["refused"]


def test_the_page_keeps_the_latest_50_actions_and_policy_audit_prints_them_all(
    deployment: Settings,
) -> None:
    catalog = Catalog()
    count = TRAIL + 10
    for i in range(count):  # each action its own transaction, as the product writes it
        plan = actions.publish(catalog, text(i % 90 + 5), "ada", f"action {i}", NOW + i, "live")
        write_sync(deployment, plan.policies, ((plan.version or "none").encode(), plan.audit))
        for key, value in plan.policies:
            catalog.apply(key, value)
    everything = read_audit(deployment, warn=pytest.fail)
    assert [e.note for e in everything] == [f"action {i}" for i in range(count)]
    feed = PolicyFeed(deployment)

    async def trail() -> list[str]:
        task = asyncio.create_task(feed.run())
        try:
            assert await feed.wait_audit(0, _last_audit_offset(deployment), timeout_s=60)
            return [e.note for e in feed.trail]
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    assert asyncio.run(trail()) == [f"action {i}" for i in range(count - TRAIL, count)]


def _last_audit_offset(settings: Settings) -> int:
    """The offset of the last audit record (before the last commit marker)."""
    from kafka import KafkaConsumer, TopicPartition

    tp = TopicPartition(t.TopicNames(settings).name(t.POLICY_AUDIT), 0)
    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        isolation_level="read_committed",
        **kafka_python_options(settings),
    )
    try:
        consumer.assign([tp])
        consumer.seek(tp, max(0, consumer.end_offsets([tp])[tp] - 4))
        last = -1
        for records in consumer.poll(timeout_ms=5000).values():
            last = max(last, *(r.offset for r in records))
        assert last >= 0, "no audit record read back"
        return last
    finally:
        consumer.close()
