"""`withdrawguard topics create` (and a worker's start) says when an existing topic has
fewer replicas than WG_REPLICATION_FACTOR asks: Kafka never raises it by itself."""

from __future__ import annotations

from dataclasses import replace

from withdrawguard.adapters.topic_admin import TopicReport, _replication_note
from withdrawguard.settings import Settings

THREE = replace(Settings(), replication_factor=3)


def test_a_topic_with_fewer_replicas_than_asked_is_warned_about() -> None:
    note = _replication_note(
        TopicReport("wd", created=False, partitions=6, replication_factor=1), THREE
    )
    assert "WARNING: replication factor 1, below WG_REPLICATION_FACTOR=3" in note


def test_a_topic_replicated_as_asked_or_more_is_not() -> None:
    for factor in (3, 4):
        report = TopicReport("wd", created=False, partitions=6, replication_factor=factor)
        assert _replication_note(report, THREE) == ""


def test_a_topic_not_described_is_not_warned_about() -> None:
    assert _replication_note(TopicReport("wd", created=True, partitions=0), THREE) == ""
