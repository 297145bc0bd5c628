"""What must hold of case work after the faults (tests/faults/test_case_faults.py):

1. Every hold of the run belongs to exactly one case.
2. An event id the `case-events` topic holds more than once is the same record each
   time (a writer killed after the broker wrote its events, resumed by the next one);
   none of the actions a person was told had succeeded is among them: each is in the
   topic exactly once.
3. The Redis case store equals the fold of the topic, case by case: each case's event
   list (the first record of each event id, in offset order) is the store's, byte for
   byte, and it folds.
Dead letters, verdicts, the table and the registry are checked by `invariants.check_all`.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass

import orjson
import pytest
import redis
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from tests.faults.deployment import Deployment
from withdrawguard.adapters.case_store import CaseKeys, case_prefix
from withdrawguard.cases import codec
from withdrawguard.cases.case import rebuild
from withdrawguard.casework.news import verdict_trigger
from withdrawguard.contract import topics as t

CASE_SINKS = {
    "case-intake": (t.WITHDRAWAL_DECISIONS, t.WITHDRAWAL_HOLDS, t.FRAUD_ALERTS),
    "case-projection": (t.CASE_EVENTS,),
}


@dataclass(frozen=True)
class CaseFigures:
    cases: int
    events: int
    repeated: int
    """Event ids the topic holds more than once (identical records)."""
    actions: int
    """Actions the actors were told had succeeded."""


def case_sinks_behind(dep: Deployment) -> int:
    """Records the two case sinks' groups have not committed yet."""
    names, n = t.TopicNames(dep.settings), dep.settings.partitions
    admin = KafkaAdminClient(bootstrap_servers=dep.settings.bootstrap_servers)
    probe = KafkaConsumer(bootstrap_servers=dep.settings.bootstrap_servers)
    total = 0
    try:
        for sink, logical in CASE_SINKS.items():
            parts = [TopicPartition(names.name(x), p) for x in logical for p in range(n)]
            ends = probe.end_offsets(parts)
            group = names.sink_group(sink)
            done = admin.list_group_offsets(group).get(group, {})
            for tp in parts:
                total += max(0, ends[tp] - (done[tp].offset if tp in done else 0))
    finally:
        admin.close()
        probe.close()
    return total


def wait_case_sinks(dep: Deployment, bound: float) -> float:
    """Seconds until the case sinks have committed everything; fails past `bound`."""
    started = time.monotonic()
    while case_sinks_behind(dep) > 0:
        if time.monotonic() - started > bound:
            dep.dump_workers()
            pytest.fail(f"the case sinks did not catch up within {bound:.0f} s")
        time.sleep(0.5)
    return time.monotonic() - started


def case_topic(dep: Deployment) -> list[bytes]:
    """Every record of `case-events`, each partition in offset order."""
    topic = t.TopicNames(dep.settings).name(t.CASE_EVENTS)
    consumer = KafkaConsumer(bootstrap_servers=dep.settings.bootstrap_servers, group_id=None)
    out: dict[TopicPartition, list[tuple[int, bytes]]] = defaultdict(list)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            for tp, recs in consumer.poll(timeout_ms=1000).items():
                out[tp] += [(r.offset, r.value) for r in recs]
    finally:
        consumer.close()
    return [value for tp in sorted(out) for _, value in sorted(out[tp])]


def stored_logs(dep: Deployment) -> dict[str, list[bytes]]:
    """Each case's event list as the Redis case store holds it."""
    keys = CaseKeys(case_prefix(dep.settings.app_id))
    r = redis.Redis.from_url(dep.settings.redis_url)
    return {
        cid.decode(): list(r.lrange(keys.events(cid.decode()), 0, -1))
        for cid in r.zrange(keys.all, 0, -1)
    }


def check_cases(dep: Deployment, succeeded: list[str], held: set[str]) -> CaseFigures:
    """Invariants 1-3: `succeeded` are the event ids of the actions the actors were told
    had succeeded, `held` the hold ids of every hold verdict of the run."""
    records = case_topic(dep)
    count = Counter(orjson.loads(r)["event_id"] for r in records)
    first: dict[str, bytes] = {}
    folded: dict[str, list[bytes]] = defaultdict(list)
    for raw in records:
        event_id = orjson.loads(raw)["event_id"]
        if event_id in first:
            assert raw == first[event_id], f"event {event_id} written twice, differently"
            continue
        first[event_id] = raw
        folded[orjson.loads(raw)["case_id"]].append(raw)
    twice = sorted(e for e in succeeded if count[e] != 1)
    assert not twice, f"{len(twice)} acknowledged actions not once in the topic: {twice[:5]}"
    stored = stored_logs(dep)
    assert sorted(stored) == sorted(folded), (
        f"cases only in Redis: {sorted(set(stored) - set(folded))[:5]}, "
        f"only in the topic: {sorted(set(folded) - set(stored))[:5]}"
    )
    differ = sorted(cid for cid in folded if stored[cid] != folded[cid])
    assert not differ, f"{len(differ)} cases differ from the topic's fold, e.g. {differ[:5]}"
    owners: dict[str, list[str]] = defaultdict(list)
    for cid, log in folded.items():
        case = rebuild(codec.decode_bytes(r) for r in log)
        for hold in case.holds:
            owners[hold.hold_id].append(cid)
    homeless = sorted(held - set(owners))
    assert not homeless, f"{len(homeless)} holds in no case, e.g. {homeless[:5]}"
    shared = {h: cs for h, cs in owners.items() if len(cs) > 1}
    assert not shared, f"{len(shared)} holds in more than one case, e.g. {list(shared.items())[:3]}"
    return CaseFigures(
        len(folded), len(first), sum(1 for c in count.values() if c > 1), len(succeeded)
    )


def hold_ids(dep: Deployment) -> set[str]:
    """The hold id of every hold verdict the collector saw."""
    found = set()
    for r in dep.collector.of(t.WITHDRAWAL_DECISIONS):
        news = verdict_trigger(orjson.loads(r.value))
        if news is not None:
            found.add(news[1].ref_id)
    return found
