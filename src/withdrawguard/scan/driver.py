"""The scan: the engine and the cross-customer stages driven over a whole history.

1. Ingest: every record is validated with the engine's decoder, and refused if dated
   too far ahead of the clock, as the worker's `ingest` agent does; valid events go to
   the spill, the others to `rejected.jsonl`.
2. Detect: each customer's events, in (event time, seq) order, go through a fresh
   `CustomerState` and `Engine.apply`, exactly as the `detect` agent applies them. The
   destination, IP and device observations the engine makes are kept.
3. Cross-reference: the observations, per destination, source IP and device in
   event-time order, go through `CrossReference` as in the `destinations`, `source-ips`
   and `devices` agents.
   The notices it derives become events of their customers, at their own event time.
4. Re-check: every customer who got a notice is played again from a fresh state with
   the notices in place. Notices produce no observations of their own, so the
   cross-customer pass need not run again, and customers without notices keep their
   results from step 2.

Notices are delivered in event time: each is applied at its own `occurred_at` (when a
destination became shared, when a wave of login attempts began, when fraud was
confirmed) among its customer's events, not when a live worker would have heard of it.
The scan sees the whole history at once, so a cross-customer reason applies directly to
every withdrawal after that time, with no LATE_EVIDENCE for arrival delays; a withdrawal
before it can still be escalated with LATE_EVIDENCE, as the engine does for evidence that
is late in event time. A finding is a withdrawal whose last verdict is hold.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from pathlib import Path
from typing import Any

import orjson

from withdrawguard.contract import wire
from withdrawguard.engine.crossref import CrossReference, DestinationState, WaveState
from withdrawguard.engine.decide import Engine
from withdrawguard.engine.decode import InvalidEvent, check_not_ahead, decode_object, parse_json
from withdrawguard.engine.events import InputEvent, Notice
from withdrawguard.engine.policy import Policy
from withdrawguard.engine.timeutil import to_ms
from withdrawguard.progress import Progress
from withdrawguard.scan.output import RejectLog, write_outputs
from withdrawguard.scan.replay import Replayer
from withdrawguard.scan.sources import Record, Source
from withdrawguard.scan.spill import Spill

_RANK = {
    "login": 0,
    "account_change": 1,
    "withdrawal": 2,
    "case_decision": 3,
    "trade": 4,
    "customer_response": 5,  # after the change or withdrawal of the same millisecond
}
"""Order of the input types within one millisecond (3 bits of `_seq`): one per type."""
_TICK = 2047  # progress is updated every 2048 items


@dataclass(frozen=True, slots=True)
class ScanOptions:
    out_dir: Path
    policy: Policy
    max_message_bytes: int
    tmp_dir: Path | None = None
    max_clock_skew: int = 3600
    """Events dated further ahead of `now` are refused, as the worker's ingest does."""
    now: datetime | None = None
    """The clock for that check; None: when the scan starts."""


@dataclass(slots=True)
class Counts:
    read: int = 0
    valid: int = 0
    rejected: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    first_ts: int | None = None
    last_ts: int | None = None
    customers: int = 0


def scan(
    source: Source,
    options: ScanOptions,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Run the whole scan; write the output files; return the summary."""
    started = clock()
    show = progress or Progress(None)
    source.open()  # before anything is written: a source that cannot be read fails first
    options.out_dir.mkdir(parents=True, exist_ok=True)
    spill = Spill(options.tmp_dir or options.out_dir)
    try:
        with RejectLog(options.out_dir / "rejected.jsonl") as rejects:
            counts = ingest(source, spill, rejects, options, show)
            engine = detect(spill, counts, options.policy, options, rejects, show)
        return summarize(spill, engine, source, counts, options.out_dir, lambda: clock() - started)
    finally:
        spill.close()


def ingest(
    source: Source, spill: Spill, rejects: RejectLog, options: ScanOptions, show: Progress
) -> Counts:
    """Read and validate every record into the spill, and sort them by customer and time."""
    counts = Counts()
    _ingest(source, spill, rejects, counts, options, show)
    show.phase("sort", counts.valid)
    spill.index()
    show.update(counts.valid)
    show.done()
    return counts


def detect(
    spill: Spill,
    counts: Counts,
    policy: Policy,
    options: ScanOptions,
    rejects: RejectLog,
    show: Progress,
    *,
    every_verdict: bool = False,
) -> Engine:
    """Decide every withdrawal of the spilled history under `policy` (detect, cross-
    reference, re-check); the verdicts stay in the spill. `counts` learns of the events
    the engine failed on."""
    engine = Engine(policy)
    counts.customers = 0

    def failed(customer_id: str, value: bytes, exc: Exception) -> None:
        counts.valid -= 1  # valid on the wire, but the engine failed on it
        counts.rejected += 1
        error = f"processing failed: {type(exc).__name__}: {exc}"
        rejects.add(f"customer {customer_id}", 0, error, value)

    replay = Replayer(engine, spill, options.max_message_bytes, failed, every_verdict)
    show.phase("detect", counts.valid)
    for customer_id, values in spill.histories():
        counts.customers += 1
        replay.run(customer_id, _ticking(values, show), observe=True)
    show.done()
    _cross_reference(spill, CrossReference(policy), show)
    show.phase("re-check", spill.notified_events())
    for customer_id in spill.notified():
        spill.forget_verdicts(customer_id)
        replay.run(customer_id, _ticking(spill.history(customer_id), show), observe=False)
    show.done()
    spill.commit()
    return engine


def summarize(
    spill: Spill,
    engine: Engine,
    source: Source,
    counts: Counts,
    out_dir: Path,
    elapsed: Callable[[], float],
) -> dict[str, Any]:
    """Write the output files of the verdicts in the spill; return the summary."""
    return write_outputs(
        spill,
        out_dir,
        header={
            "policy": {"source": engine.policy.source, "version": engine.version},
            "inputs": list(source.names),
            "events": {
                "read": counts.read,
                "valid": counts.valid,
                "rejected": counts.rejected,
                "by_type": dict(sorted(counts.by_type.items())),
            },
            "customers": counts.customers,
        },
        span=(counts.first_ts, counts.last_ts),
        elapsed=elapsed,
    )


def _ticking(values: Iterable[bytes], show: Progress) -> Iterator[bytes]:
    """`values`, counted into the current phase's progress."""
    count = show.count
    for value in values:
        count += 1
        if not count & _TICK:
            show.update(count)
        yield value
    show.update(count)


def _ingest(
    source: Source,
    spill: Spill,
    rejects: RejectLog,
    counts: Counts,
    options: ScanOptions,
    show: Progress,
) -> None:
    max_bytes, skew = options.max_message_bytes, options.max_clock_skew
    now = options.now or datetime.now(UTC)
    show.phase("read", source.total)
    by_type = counts.by_type
    for rec in source:
        counts.read += 1
        if not counts.read & _TICK:
            show.update(counts.read, source.position())
        try:
            event_type, event, raw = _validate(rec, max_bytes)
            check_not_ahead(event, now, skew)
        except InvalidEvent as exc:
            counts.rejected += 1
            rejects.add(rec.source, rec.line, str(exc), rec.raw)
            continue
        counts.valid += 1
        by_type[event_type] = by_type.get(event_type, 0) + 1
        ts = to_ms(event.occurred_at)
        if counts.first_ts is None or ts < counts.first_ts:
            counts.first_ts = ts
        if counts.last_ts is None or ts > counts.last_ts:
            counts.last_ts = ts
        value = wire.forward(event_type, raw)
        spill.add_event(event.customer_id, ts, _seq(event, event_type, raw), value)
    show.update(counts.read, source.position())
    show.done()


def _validate(rec: Record, max_bytes: int) -> tuple[str, InputEvent, bytes]:
    """(type, event, payload bytes) of a record, or InvalidEvent as the worker would."""
    if rec.error is not None:
        raise InvalidEvent("", rec.error)
    if rec.obj is not None:
        obj, raw = rec.obj, orjson.dumps(rec.obj)
        if len(raw) > max_bytes:
            raise InvalidEvent("", f"payload is {len(raw)} bytes, over the limit of {max_bytes}")
    else:
        obj, raw = parse_json(rec.raw, max_bytes), rec.raw
    event_type = rec.event_type or _type_of(obj)
    return event_type, decode_object(obj, event_type), raw


def _type_of(obj: dict[str, Any]) -> str:
    declared = obj.get("type")
    if declared is None:
        if "decision_id" in obj:
            return "case_decision"
        raise InvalidEvent("type", "is required")
    if not isinstance(declared, str):
        raise InvalidEvent("type", "must be a string")
    return declared


def _seq(event: InputEvent, event_type: str, raw: bytes) -> int:
    """Order among one customer's events of the same millisecond, the same whatever the
    order the input was read in: microseconds, then type, then a hash of the payload."""
    digest = int.from_bytes(hashlib.blake2b(raw, digest_size=6).digest(), "big") >> 1
    return ((event.occurred_at.microsecond % 1000) << 50) | (_RANK[event_type] << 47) | digest


_DEST_KEY = attrgetter("destination_key")
_IP_KEY = attrgetter("ip")
_DEVICE_KEY = attrgetter("device")


def _cross_reference(spill: Spill, crossref: CrossReference, show: Progress) -> None:
    """Destination, IP and device observations through `CrossReference`, one key at a
    time."""
    show.phase("cross-reference", spill.observation_count(), "observations")
    done = 0
    for observations, key_of, fresh, fold in (
        (spill.destination_observations(), _DEST_KEY, DestinationState, crossref.destination),
        (spill.ip_observations(), _IP_KEY, WaveState, crossref.ip),
        (spill.device_observations(), _DEVICE_KEY, WaveState, crossref.device),
    ):
        done = _fold(spill, show, done, observations, key_of, fresh, fold)
    show.update(done)
    show.done()


def _fold(
    spill: Spill,
    show: Progress,
    done: int,
    observations: Iterable[Any],
    key_of: Callable[[Any], str],
    fresh: Callable[[], Any],
    fold: Callable[[Any, Any], list[Notice]],
) -> int:
    """Observations sorted by key folded into a fresh state per key, their notices stored
    once per customer and key; the running count of observations done."""
    key: str | None = None
    state = fresh()
    sent: set[tuple[str, str]] = set()
    for obs in observations:
        if key_of(obs) != key:
            key, state, sent = key_of(obs), fresh(), set()
        _deliver(spill, fold(state, obs), sent)
        done += 1
        if not done & _TICK:
            show.update(done)
    return done


def _deliver(spill: Spill, notices: list[Notice], sent: set[tuple[str, str]]) -> None:
    """Store each notice once per customer (the worker's engine drops repeats too)."""
    for n in notices:
        if (n.customer_id, n.event_id) not in sent:
            sent.add((n.customer_id, n.event_id))
            spill.add_notice(n)
