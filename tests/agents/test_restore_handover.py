"""The end of a table restore runs with the consumer's flow off: Faust resumes the input
partitions, seeks them and empties the agents' queues in that step, and anything fetched
in between was dropped unprocessed (streaming/restore_handover.py; the fault test
"restore handover" shows it end to end)."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from faust.tables.recovery import Recovery

from withdrawguard.streaming import restore_handover
from withdrawguard.streaming.app import Detector


@dataclass
class Consumer:
    flow_active: bool = True
    log: list[str] = field(default_factory=list)

    def stop_flow(self) -> None:
        self.flow_active = False
        self.log.append("stop_flow")


async def test_faust_finishes_a_restore_with_the_flow_off(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[bool, int]] = []

    async def faust_original(self: Any, generation_id: int = 0) -> None:
        seen.append((self.app.consumer.flow_active, generation_id))  # resume, seek, clear

    monkeypatch.setattr(Recovery, "on_recovery_completed", faust_original)
    restore_handover.hold_flow_until_streams_are_sought()
    restore_handover.hold_flow_until_streams_are_sought()  # a second app: wrapped once
    consumer = Consumer()
    await Recovery.on_recovery_completed(SimpleNamespace(app=SimpleNamespace(consumer=consumer)), 7)
    assert seen == [(False, 7)]
    assert consumer.log == ["stop_flow"]


def test_every_detector_app_has_it(detector: tuple[Detector, Any]) -> None:
    assert restore_handover.is_installed()
