"""Every detector app seeks uncommitted stream partitions too
(streaming/faust_internals/transport.py; the broker side is
tests/integration/test_uncommitted_seek.py): Faust's consumer thread runs
`seek_to_committed_or_reset` on its own thread with the app's stream topics and reset
policy."""

from __future__ import annotations

from typing import Any

from withdrawguard.streaming.faust_internals import transport as internals
from withdrawguard.streaming.faust_internals.transport import ConsumerThread
from withdrawguard.worker.app import Detector

COMMITTED: Any = {"what aiokafka returned": 1}


async def test_the_consumer_thread_seeks_with_the_apps_streams_and_reset_policy(
    detector: tuple[Detector, Any],
) -> None:
    app = detector[0].app
    calls: list[tuple[Any, ...]] = []

    class Thread:
        def __init__(self) -> None:
            self.app = app

        def _ensure_consumer(self) -> str:
            return "the aiokafka consumer"

        async def call_thread(self, fun: Any, *args: Any) -> Any:
            calls.append((fun, *args))
            return COMMITTED

    # the app's consumer is the wgkafka transport's, whose thread seeks this way
    assert isinstance(app.consumer, internals.Consumer)
    assert app.conf.broker_consumer[0].scheme == internals.SCHEME
    result = await ConsumerThread.seek_to_committed(Thread())
    assert result is COMMITTED
    [(fun, consumer, is_stream, reset)] = calls
    assert fun is internals.seek_to_committed_or_reset
    assert consumer == "the aiokafka consumer"
    assert reset == "earliest"
    # the topics whose offsets Faust commits: the agents' (registered as they start), never
    # a table changelog, which the restore positions itself
    assert is_stream == app.topics.acks_enabled_for
    assert not any(tp.acks for tp in (table.changelog_topic for table in app.tables.values()))
