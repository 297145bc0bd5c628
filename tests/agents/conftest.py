"""Agent tests: the Faust layer with the memory store and Faust's test context, no broker.
Sends to output topics are captured instead of produced."""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from unittest import mock

import orjson
import pytest

from withdrawguard.engine.decide import Engine
from withdrawguard.engine.policy import load_policy
from withdrawguard.settings import Settings
from withdrawguard.streaming.app import Detector, create_app


class Sent:
    """What the agents sent, per logical topic attribute of the pipeline."""

    def __init__(self) -> None:
        self.by_topic: dict[str, list[tuple[bytes | None, bytes]]] = defaultdict(list)

    def json(self, topic: str) -> list[dict[str, Any]]:
        return [orjson.loads(v) for _, v in self.by_topic[topic]]


@pytest.fixture
def detector(tmp_path: Any) -> tuple[Detector, Sent]:
    settings = Settings(store="memory", data_dir=tmp_path, app_id="wg-agents-test")
    detector = create_app(settings, Engine(load_policy()))
    return detector, capture_sends(detector)


def capture_sends(detector: Detector) -> Sent:
    """Replace the pipeline's output topics by recorders of what is sent to them."""
    sent = Sent()
    p = detector.pipeline
    for attr in (
        "customer_events",
        "destination_observations",
        "ip_observations",
        "decisions",
        "holds",
        "alerts",
        "dead_letters",
    ):
        topic = getattr(p, attr)

        async def capture(
            *, key: bytes | None = None, value: bytes = b"", _a: str = attr, **_: Any
        ) -> None:
            sent.by_topic[_a].append((key, value))

        setattr(p, attr, mock.Mock(wraps=topic, send=capture))
    return sent
