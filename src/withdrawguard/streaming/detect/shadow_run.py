"""The shadow version beside the live one, in the detect step (docs/policy.md).

Called once per customer per batch, after the live version decided the customer's
events: the shadow decides them again on a copy of the state they started from
(`policy/shadow.py`), and each comparison goes to `shadow-decisions` in the batch's
outbox, acknowledged with the rest of the batch. A failure of the shadow is logged and
counted and changes nothing else: the live outputs are already made.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import orjson

from withdrawguard.engine.decide import Engine
from withdrawguard.engine.events import CustomerEvent
from withdrawguard.engine.outputs import Outcome
from withdrawguard.engine.state import CustomerState, decode_state
from withdrawguard.policy.shadow import compare
from withdrawguard.streaming.detect.batch import Batch

log = logging.getLogger(__name__)


class ShadowMetrics(Protocol):
    def shadow_verdict(self, outcome: str, reasons: Iterable[str]) -> None:
        """One withdrawal compared: `agree`, `would_hold` or `would_allow`, with the
        reason codes of the side that holds (for a disagreement)."""

    def shadow_failed(self) -> None:
        """The shadow version failed on an event (the live verdict is unaffected)."""


@dataclass
class ShadowRun:
    topic: str
    """The shadow-decisions topic's name."""
    metrics: ShadowMetrics

    def __call__(
        self,
        shadow: Engine,
        live_version: str,
        customer_id: str,
        raw: bytes | None,
        applied: Sequence[tuple[int, CustomerEvent, Outcome]],
        batch: Batch,
    ) -> None:
        """`applied`: (position in the batch, event, live outcome) of the customer's
        events, in order; `raw`: the customer's state before them."""
        if not applied:
            return
        try:
            before = decode_state(raw) if raw is not None else CustomerState(customer_id)
            found = compare(shadow, live_version, before, [(ev, out) for _, ev, out in applied])
        except Exception:  # the shadow must never stop or change the stream
            log.exception("shadow version %s failed for customer %s", shadow.policy_id, customer_id)
            self.metrics.shadow_failed()
            return
        at = applied[-1][0]
        for c in found:
            batch.outbox.add(at, self.topic, c.withdrawal_id.encode(), orjson.dumps(c.to_wire()))
            self.metrics.shadow_verdict(c.outcome, c.holding_reasons)
