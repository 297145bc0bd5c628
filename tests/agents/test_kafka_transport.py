"""Every detector app talks to Kafka through the `wgkafka://` transport, whose consumer and
producer get reset-safe aiokafka clients (streaming/faust_internals/transport.py; the
broker side, the cause and the fix, is tests/integration/test_kafka_reset.py)."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.client import AIOKafkaClient

from withdrawguard.streaming.faust_internals import transport as kafka_transport
from withdrawguard.streaming.faust_internals.kafka_client import ResetSafeClient, reset_safe
from withdrawguard.worker.app import Detector


def test_the_detector_app_uses_the_reset_safe_transport(detector: tuple[Detector, Any]) -> None:
    app = detector[0].app
    transport = app.transport
    assert isinstance(transport, kafka_transport.Transport)
    assert transport.Consumer is kafka_transport.Consumer
    assert transport.Producer is kafka_transport.Producer
    assert str(transport.url[0]).startswith("wgkafka://")


async def test_reset_safe_turns_a_new_aiokafka_client_into_a_reset_safe_one() -> None:
    client = AIOKafkaClient(bootstrap_servers="127.0.0.1:1")  # never started: no broker
    assert reset_safe(client) is client
    assert isinstance(client, ResetSafeClient)
    with pytest.raises(TypeError):
        reset_safe(client)  # already done, or another class: refused, not stacked
