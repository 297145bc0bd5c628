"""A simulation's deliveries through the pure engine, one customer's state each, in the
order they arrive (late, duplicated and malformed ones included; a malformed one is
refused as the worker's decoder refuses it). No cross-customer stage: what depends on
the customer's own events only (sell-off alerts, customer notices of changes) comes out
as the worker gives it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from withdrawguard.contract.topics import INPUT_EVENT_TYPES
from withdrawguard.engine.decide import Engine
from withdrawguard.engine.decode import InvalidEvent, decode_input
from withdrawguard.engine.outputs import Outcome
from withdrawguard.engine.policy import Policy
from withdrawguard.engine.state import CustomerState
from withdrawguard.sim.delivery import Delivery

MAX_BYTES = 262_144
"""The largest message the simulation's pass decodes (the worker's default)."""


def through_engine(
    deliveries: Iterable[Delivery], policy: Policy, max_bytes: int = MAX_BYTES
) -> Iterator[tuple[Delivery, Outcome]]:
    """Each delivery the decoder accepts, with what the engine made of it."""
    engine = Engine(policy)
    states: dict[str, CustomerState] = {}
    for d in deliveries:
        try:
            event = decode_input(d.value, INPUT_EVENT_TYPES[d.topic], max_bytes)
        except InvalidEvent:
            continue
        cid = event.customer_id
        state = states.get(cid)
        if state is None:
            state = states[cid] = CustomerState(cid)
        try:
            out = engine.apply(state, event)
        except InvalidEvent:  # a response the state refuses: dead-lettered by the worker
            continue
        yield d, out
