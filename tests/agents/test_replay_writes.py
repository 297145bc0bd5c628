"""A repeated event writes the customer's state to the table again, unchanged, so that a
replay after a crash puts on the changelog what the local store already held."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from tests.agents.conftest import capture_sends
from withdrawguard.engine.decide import Engine
from withdrawguard.engine.policy import load_policy
from withdrawguard.settings import Settings
from withdrawguard.sim import scenarios as s
from withdrawguard.streaming import wire
from withdrawguard.streaming.app import create_app

NOW = datetime.now(UTC).replace(microsecond=0)


class Recording(dict[bytes, bytes]):
    """The customers table: what was written, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[bytes, bytes]] = []

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.writes.append((key, value))
        super().__setitem__(key, value)


async def test_a_replayed_event_rewrites_the_state_it_finds_unchanged(tmp_path: Any) -> None:
    settings = Settings(store="memory", data_dir=tmp_path, app_id="wg-agents-replay")
    detector = create_app(settings, Engine(load_policy()))
    capture_sends(detector)
    table = Recording()
    detector.pipeline.customers = table  # type: ignore[assignment]
    dest = {"bank_code": "0005", "account_number": "1234567"}
    _, body = s.withdrawal("cust-r", "cust-r-e", NOW, "cust-r-wd", "500", destination=dest)
    ev = wire.decode_customer_event(wire.forward("withdrawal", orjson.dumps(body)), 1 << 20)

    await detector.pipeline._detect(b"cust-r", ev, NOW.timestamp())
    await detector.pipeline._detect(b"cust-r", ev, NOW.timestamp())  # the replay

    assert len(table.writes) == 2
    (_, first), (_, again) = table.writes
    assert again == first  # the same state, written again: the changelog gets it back
