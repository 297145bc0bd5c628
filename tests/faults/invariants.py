"""What must hold after every fault, written once; and the figures each fault reports.

1. Every withdrawal has a verdict, and the latest one equals the oracle's.
   The decision must be equal: no hold lost, none invented. A hold's rule codes must
   contain the oracle's, and may add only NEW_DEVICE or DRAIN: those two are findings of
   *absence* (no earlier login from the device, no earlier large withdrawal). When the
   withdrawal is decided before that history arrives (the worker reads four input topics,
   and after a restart or a takeover one runs ahead of another), the finding is true of
   what was known; the history arriving later removes it, but the engine never re-issues
   a verdict for less evidence, so the code stays on the record. The scan applies
   everything in event time and never sees that. LATE_EVIDENCE and RELEASED record
   history, not evidence, and `decided_at` moves with late evidence: neither is compared.
   An allow's reason codes are informational for the same reason and not compared.
2. Repeated records for a withdrawal (verdicts and holds) are byte-identical to an
   earlier one, or strictly an escalation: the decision not lowered and something added
   (a higher decision, a new rule code, a higher hold status).
3. The customers table (its changelog, latest value per key, decoded) equals a fold over
   the input in every part that does not depend on arrival order: the withdrawals each
   customer has, their final decision and hold status; the account changes; every
   device with the time it was first seen; every login of the last seven days of the
   customer's history (older logins may be pruned, depending on when pruning ran).
4. The Redis registry equals the projection of the verdict and hold topics.
5. No dead letter but those of events a test makes fail on purpose.
6. The group's lag returns to zero within the bound the test states (asserted by the
   deployment's `caught_up`/`drained`).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
import redis
from kafka import KafkaConsumer, TopicPartition

from tests.faults.deployment import ROOT, SECRETS, Deployment, Out
from tests.faults.load import Load
from tests.faults.oracle import Expected, rule_codes
from tests.unit.registry_fakes import MemoryRegistry
from withdrawguard.contract import topics as t
from withdrawguard.contract.topics import INPUT_EVENT_TYPES
from withdrawguard.engine.decode import decode_object
from withdrawguard.engine.state import CustomerState, decode_state
from withdrawguard.engine.timeutil import to_ms
from withdrawguard.registry.apply import apply_record
from withdrawguard.registry.keys import RegistryKeys, registry_prefix

ABSENCE_CODES = frozenset({"NEW_DEVICE", "DRAIN"})
RESULTS = ROOT / ".local" / "faults" / "results.jsonl"
SUITE_LOGS: list[tuple[Path, Load]] = []
"""(worker log, its load) of every fault run this session, for the log scan."""
_DECISION = {"allow": 0, "hold": 1}
_HOLD = {"released": 0, "held": 1, "confirmed_fraud": 2}
RECENT_MS = 7 * 24 * 3600 * 1000
DIGITS = re.compile(r"(?<![0-9])[0-9]{5,20}(?![0-9])")


@dataclass
class Measure:
    """One fault run's figures (docs/reliability.md is made from these)."""

    fault: str
    events: int
    withdrawals: int = 0
    holds: int = 0
    verdicts_lost: int = 0
    duplicates_identical: int = 0
    duplicates_conflicting: int = 0
    escalations: int = 0
    dead_letters: int = 0
    recovery_seconds: list[float] = field(default_factory=list)
    verdict_gap_seconds: list[float] = field(default_factory=list)
    """Per fault: the longest time between two consecutive verdicts the collector saw."""
    standby_replicas: int = 0
    """The workers' WG_TABLE_STANDBY_REPLICAS."""
    mid_stream: int = 0
    """Faults that came while the load was still being sent."""
    result: str = "pass"
    notes: str = ""

    def save(self) -> None:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        row = {**asdict(self), "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        with RESULTS.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        print(f"\nFAULT {json.dumps(row)}")


def check_all(
    dep: Deployment,
    load: Load,
    expected: dict[str, Expected],
    measure: Measure,
    leave_out: frozenset[str] = frozenset(),
) -> None:
    """Invariants 1-5 and 7 (the caller waited for lag zero, 6); figures into `measure`,
    saved with the outcome even when an invariant fails."""
    verdicts = by_withdrawal(dep.collector.of(t.WITHDRAWAL_DECISIONS))
    holds = by_withdrawal(dep.collector.of(t.WITHDRAWAL_HOLDS))
    measure.withdrawals = len(expected)
    measure.holds = sum(e.decision == "hold" for e in expected.values())
    measure.dead_letters = len(dep.collector.of(t.DEAD_LETTERS))
    lost = sorted(w for w in expected if w not in verdicts)
    measure.verdicts_lost = len(lost)
    for records in (verdicts, holds):
        ident, conflicting, escalations = repeats(records)
        measure.duplicates_identical += ident
        measure.duplicates_conflicting += len(conflicting)
        measure.escalations += escalations
    try:
        _assert_all(dep, load, expected, leave_out, verdicts, holds, lost)
    except AssertionError as exc:
        measure.result = "FAIL: " + str(exc).splitlines()[0][:300]
        raise
    finally:
        measure.save()


def _assert_all(
    dep: Deployment,
    load: Load,
    expected: dict[str, Expected],
    leave_out: frozenset[str],
    verdicts: dict[str, list[Out]],
    holds: dict[str, list[Out]],
    lost: list[str],
) -> None:
    assert not lost, f"{len(lost)} withdrawals without a verdict, e.g. {lost[:5]}"
    # Every message of the load is processable: a dead letter is an event lost, unless
    # it is one the test made fail (and left out of the oracle).
    dead = [orjson.loads(r.value) for r in dep.collector.of(t.DEAD_LETTERS)]
    unexpected = [d["error"] for d in dead if not any(e in d["payload"] for e in leave_out)]
    assert not unexpected, f"{len(unexpected)} unexpected dead letters, e.g. {unexpected[:3]}"
    wrong = []
    for wid, exp in expected.items():
        last = orjson.loads(verdicts[wid][-1].value)
        if not matches(last, exp):
            wrong.append((wid, last["decision"], sorted(rule_codes(last["reasons"])), exp))
    assert not wrong, f"{len(wrong)} verdicts differ from the oracle, e.g. {wrong[:5]}"
    for records in (verdicts, holds):
        _, conflicting, _ = repeats(records)
        assert not conflicting, f"repeats neither identical nor escalations: {conflicting[:3]}"
    check_table(dep, load, expected, leave_out)
    check_logs(dep.logs, load)
    check_registry(dep)  # last: a RegistryBehind must not hide the other checks


def matches(last: dict[str, Any], exp: Expected) -> bool:
    if last["decision"] != exp.decision:
        return False
    if exp.decision == "allow":
        return True
    codes = rule_codes(last["reasons"])
    return exp.codes <= codes and codes - exp.codes <= ABSENCE_CODES


def by_withdrawal(records: list[Out]) -> dict[str, list[Out]]:
    """withdrawal id -> its records in offset order (one key: one partition)."""
    out: dict[str, list[Out]] = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        out[orjson.loads(r.value)["withdrawal_id"]].append(r)
    return out


def repeats(records: dict[str, list[Out]]) -> tuple[int, list[str], int]:
    """(identical repeats, withdrawals with a repeat that is neither, escalations)."""
    identical, conflicting, escalations = 0, [], 0
    for wid, recs in records.items():
        seen: set[bytes] = set()
        previous: dict[str, Any] | None = None
        for r in recs:
            current = orjson.loads(r.value)
            if r.value in seen:
                identical += 1
            elif previous is not None:
                if escalates(previous, current):
                    escalations += 1
                else:
                    conflicting.append(wid)
            seen.add(r.value)
            previous = current
    return identical, conflicting, escalations


def escalates(before: dict[str, Any], after: dict[str, Any]) -> bool:
    if "hold_id" not in after:  # a verdict
        up = _DECISION[after["decision"]] - _DECISION[before["decision"]]
        added = rule_codes(after["reasons"]) - rule_codes(before["reasons"])
        return up > 0 or (up == 0 and bool(added))
    up = _HOLD[after["status"]] - _HOLD[before["status"]]
    added = rule_codes(after.get("reasons", [])) - rule_codes(before.get("reasons", []))
    return up > 0 or (up == 0 and bool(added))


# ------------------------------------------------------------ the table


def changelog_states(dep: Deployment) -> dict[str, CustomerState]:
    """The customers table as its changelog topic has it: latest value per key."""
    topic = f"{dep.settings.app_id}-customers-changelog"
    consumer = KafkaConsumer(bootstrap_servers=dep.settings.bootstrap_servers, group_id=None)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        latest: dict[bytes, bytes | None] = {}
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            for recs in consumer.poll(timeout_ms=1000).values():
                for r in recs:
                    latest[r.key] = r.value
    finally:
        consumer.close()
    return {k.decode(): decode_state(v) for k, v in latest.items() if v is not None}


def check_table(
    dep: Deployment, load: Load, expected: dict[str, Expected], leave_out: frozenset[str]
) -> None:
    states = changelog_states(dep)
    events: dict[str, list[Any]] = defaultdict(list)
    for topic, body in load.messages:
        if body.get("event_id") in leave_out:
            continue
        events[body["customer_id"]].append(decode_object(body, INPUT_EVENT_TYPES[topic]))
    problems: list[str] = []
    for cid, evs in events.items():
        st = states.get(cid)
        if st is None:
            problems.append(f"{cid}: no state")
            continue
        problems += _compare(cid, st, evs, expected)
    assert not problems, f"{len(problems)} table differences, e.g. {problems[:5]}"


def _compare(
    cid: str, st: CustomerState, evs: list[Any], expected: dict[str, Expected]
) -> list[str]:
    out: list[str] = []
    wids = {e.withdrawal_id for e in evs if e.type == "withdrawal"}
    wids = {w for w in wids if w in expected}  # a left-out (dead-lettered) one is absent
    if set(st.withdrawals) != wids:
        out.append(f"{cid}: withdrawals {sorted(st.withdrawals)} != {sorted(wids)}")
    for wid in wids & set(st.withdrawals):
        rec, exp = st.withdrawals[wid], expected[wid]
        held = "held" if exp.decision == "hold" else None
        if (rec.decision, rec.hold) != (exp.decision, held):
            out.append(f"{wid}: table has {rec.decision}/{rec.hold}, oracle {exp.decision}")
    kept = {e.event_id for e in evs if e.type == "account_change"}
    if set(st.changes) != kept:
        out.append(f"{cid}: changes {sorted(st.changes)} != {sorted(kept)}")
    first: dict[str, int] = {}
    for e in evs:
        if e.type == "login" and e.success and e.device_id is not None:
            ts = to_ms(e.occurred_at)
            first[e.device_id] = min(ts, first.get(e.device_id, ts))
    if {d: s.first for d, s in st.devices.items()} != first:
        out.append(f"{cid}: devices {st.devices} != first seen {first}")
    horizon = max(to_ms(e.occurred_at) for e in evs)
    recent = {
        e.event_id for e in evs if e.type == "login" and to_ms(e.occurred_at) >= horizon - RECENT_MS
    }
    missing = recent - set(st.logins_ok) - set(st.logins_failed)
    if missing:
        out.append(f"{cid}: recent logins missing from the table: {sorted(missing)}")
    return out


# ------------------------------------------------------------ the registry


class RegistryBehind(AssertionError):
    """The registry missed records but still fails closed: every withdrawal that differs
    is absent from Redis (the client answers `pending`, which payment systems treat as
    `hold`) or shows the projection's decision and hold status with older details. A
    failure all the same (the registry must equal its topics); named apart from an unsafe
    difference so a report tells the two at once. docs/reliability.md has the history."""


def check_registry(dep: Deployment) -> None:
    """Redis equals the projection of every verdict and hold record (pure projection,
    in-memory store), withdrawal by withdrawal, and the open-holds index."""
    memory = MemoryRegistry(keys=RegistryKeys(registry_prefix(dep.settings.app_id)))

    async def project() -> None:
        for logical in (t.WITHDRAWAL_DECISIONS, t.WITHDRAWAL_HOLDS):
            for r in sorted(dep.collector.of(logical), key=lambda r: (r.partition, r.offset)):
                await apply_record(memory, logical, r.partition, r.offset, r.value)

    asyncio.run(project())
    r = redis.Redis.from_url(dep.settings.redis_url, decode_responses=True)
    keys = memory.keys
    live = {key: r.hgetall(key) for key in r.scan_iter(match=f"{keys.prefix}wd:*", count=1000)}
    wanted = {k: v for k, v in memory.hashes.items() if k.startswith(f"{keys.prefix}wd:")}
    gap = compare_registry(live, wanted)
    assert not gap.invented, (
        f"{len(gap.invented)} registry hashes no record made, e.g. {gap.invented[:5]}"
    )
    if gap.unsafe:
        got, want = live[gap.unsafe[0]], wanted[gap.unsafe[0]]
        fields = {
            f: (got.get(f), want.get(f)) for f in set(got) | set(want) if got.get(f) != want.get(f)
        }
        raise AssertionError(
            f"{len(gap.unsafe)} registry hashes answer differently from the projection of the "
            f"topics, e.g. {gap.unsafe[0]}: (redis, projection) {fields}"
        )
    missing, differ = gap.missing, gap.stale
    open_live = dict(r.zrange(keys.open_holds, 0, -1, withscores=True))
    open_memory = {k: float(v) for k, v in memory.zsets.get(keys.open_holds, {}).items()}
    behind = {k.removeprefix(f"{keys.prefix}wd:") for k in missing + differ}
    assert {k: v for k, v in open_live.items() if k not in behind} == {
        k: v for k, v in open_memory.items() if k not in behind
    }, "the open-holds index differs from the projection"
    if missing or differ:
        raise RegistryBehind(
            f"registry behind its topics: {len(missing)} hashes absent (read as pending), "
            f"{len(differ)} with the same answer but older details, e.g. {(missing + differ)[:3]}"
        )


@dataclass(frozen=True)
class RegistryGap:
    """How Redis differs from the projection, by hash key: `invented` (in Redis only),
    `missing` (absent from Redis: read as pending), `stale` (same decision and hold
    status, other details), `unsafe` (answers differently)."""

    invented: list[str]
    missing: list[str]
    stale: list[str]
    unsafe: list[str]


def compare_registry(
    live: dict[str, dict[str, str]], projected: dict[str, dict[str, str]]
) -> RegistryGap:
    differ = sorted(k for k in set(live) & set(projected) if live[k] != projected[k])
    same = [k for k in differ if _same_answer(live[k], projected[k])]
    return RegistryGap(
        invented=sorted(set(live) - set(projected)),
        missing=sorted(set(projected) - set(live)),
        stale=same,
        unsafe=[k for k in differ if k not in same],
    )


def _same_answer(got: dict[str, str], want: dict[str, str]) -> bool:
    return all(got.get(f) == want.get(f) for f in ("decision", "hold_status"))


# ------------------------------------------------------------ the logs


def check_logs(logs: list[Path], load: Load) -> None:
    """No worker log holds a full account number of the load or a seeded secret."""
    assert logs, "no worker logs to scan"
    accounts = load.account_numbers
    leaks: list[str] = []
    for path in logs:
        text = path.read_text(encoding="utf-8", errors="replace")
        # Whole digit runs only: an account number inside a timestamp is not a leak.
        leaks += [f"{path.name}: account {n}" for n in set(DIGITS.findall(text)) & accounts]
        leaks += [f"{path.name}: {what}" for what, value in SECRETS.items() if value in text]
    assert not leaks, f"secrets or account numbers in the logs: {leaks[:10]}"
