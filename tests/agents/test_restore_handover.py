"""The end of a table restore runs with the consumer's flow off: Faust resumes the input
partitions, seeks them and empties the agents' queues in that step, and anything fetched
in between was dropped unprocessed (streaming/faust_internals/recovery.py; the fault test
"restore handover" shows it end to end)."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from faust.tables.recovery import Recovery as FaustRecovery

from withdrawguard.streaming.faust_internals import recovery as internals
from withdrawguard.worker.app import Detector


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

    monkeypatch.setattr(FaustRecovery, "on_recovery_completed", faust_original)
    consumer = Consumer()
    recovery = internals.Recovery.__new__(internals.Recovery)  # no service
    recovery.app = SimpleNamespace(consumer=consumer)
    await recovery.on_recovery_completed(7)
    assert seen == [(False, 7)]
    assert consumer.log == ["stop_flow"]


def test_every_detector_app_has_it_and_faust_itself_is_unchanged(
    detector: tuple[Detector, Any],
) -> None:
    assert isinstance(detector[0].app.tables.recovery, internals.Recovery)
    # installed through the TableManager setting, for this app: Faust's class is Faust's
    assert FaustRecovery.on_recovery_completed is not internals.Recovery.on_recovery_completed
