"""`withdrawguard topics create` (and the worker, before it starts) makes the tables'
changelog topics under the names Faust gives them, so a fresh worker knows them from
its first assignment."""

from __future__ import annotations

from tests.agents.conftest import Sent
from withdrawguard.contract.topics import TopicNames
from withdrawguard.worker.app import Detector


def test_the_changelog_topics_created_beforehand_are_the_ones_the_tables_write(
    detector: tuple[Detector, Sent],
) -> None:
    d, _ = detector
    p = d.pipeline
    tables = (p.customers, p.destinations, p.source_ips, p.devices)
    written = {table.changelog_topic.get_topic_name() for table in tables}
    assert written == set(TopicNames(d.settings).changelogs())
