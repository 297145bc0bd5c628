"""Agent tests: the Faust layer with the memory store and Faust's test context, no broker.
Sends to output topics are captured instead of produced."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from withdrawguard.contract.records import Record
from withdrawguard.engine.decide import Engine
from withdrawguard.engine.policy import load_policy
from withdrawguard.settings import Settings
from withdrawguard.worker.app import Detector, create_app


class Sent:
    """What the agents sent, per logical topic attribute of the pipeline."""

    def __init__(self) -> None:
        self.by_topic: dict[str, list[tuple[bytes | None, bytes]]] = defaultdict(list)
        self.partitions: dict[str, list[int | None]] = defaultdict(list)
        self.sent_now = 0
        """How often the pipeline asked the producer to send without its linger."""

    def send_now(self) -> None:
        self.sent_now += 1

    def json(self, topic: str) -> list[dict[str, Any]]:
        return [orjson.loads(v) for _, v in self.by_topic[topic]]


@pytest.fixture
def detector(tmp_path: Any) -> tuple[Detector, Sent]:
    settings = Settings(store="memory", data_dir=tmp_path, app_id="wg-agents-test")
    detector = create_app(settings, Engine(load_policy()))
    return detector, capture_sends(detector)


def capture_sends(detector: Detector) -> Sent:
    """Replace the pipeline's producer by a recorder of what is sent, per pipeline
    attribute of the topic (`changelog:<table attribute>` for the tables' changelogs).
    Each record is acknowledged at once, with its position among the topic's records as
    its offset; a table partition's changelog records handed over together (`ProduceMany`)
    are recorded one by one, the last one's offset answered."""
    sent = Sent()
    p = detector.pipeline
    names = {
        getattr(p, attr).get_topic_name(): attr
        for attr in (
            "customer_events",
            "destination_observations",
            "ip_observations",
            "device_observations",
            "decisions",
            "holds",
            "alerts",
            "notices",
            "dead_letters",
        )
    }
    for attr in ("customers", "destinations", "source_ips", "devices"):
        names[getattr(p, attr).changelog_topic.get_topic_name()] = f"changelog:{attr}"

    async def produce(record: Record) -> asyncio.Future[Any]:
        topic, key, value, partition, _timestamp = record
        attr = names[topic]
        sent.by_topic[attr].append((key, value))
        sent.partitions[attr].append(partition)
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(SimpleNamespace(offset=len(sent.by_topic[attr]) - 1))
        return done

    async def produce_many(
        topic: str, partition: int, records: Sequence[tuple[bytes, bytes]]
    ) -> asyncio.Future[int]:
        for key, value in records:
            acked = await produce((topic, key, value, partition, None))
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        done.set_result((await acked).offset)
        return done

    p.produce = produce
    p.produce_many = produce_many
    p.send_now = sent.send_now
    return sent
