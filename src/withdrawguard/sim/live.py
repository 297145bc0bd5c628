"""A simulation through the running worker: produce it, collect the verdicts.

`VerdictCollector` reads `withdrawal-decisions`, `fraud-alerts`, `customer-notices` and
`dead-letters` from their ends (as they are when it starts) in a background thread: the
first and the latest verdict on each withdrawal, when its first `hold` was seen, the
customers a sell-off alert (kind `liquidation`) or a customer's denial (kind
`customer_denial`) was raised for, and the notices sent. `play` produces a simulation
with `KafkaSink`, holding each customer's answer back until the worker has sent the
notice it answers (the contract: a response follows its notice; the worker reads the
topics independently), waits until every withdrawal has a verdict, then turns them into
`Outcome`s and `SellOffAlerts`.

A sell-off was alerted on before an attack's first withdrawal when its customer has a
`liquidation` alert and the first verdict on that withdrawal (by event time) names
`LIQUIDATION`: the engine decides a withdrawal with the sell-offs it knows, and raises
the alert when the event completing the sell-off arrives, so that verdict names it
exactly when the alert came before it (`sim/early.py` checks the order itself).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition

from withdrawguard.adapters.kafka_security import kafka_python_options
from withdrawguard.contract.topics import (
    CUSTOMER_NOTICES,
    CUSTOMER_RESPONSES,
    DEAD_LETTERS,
    FRAUD_ALERTS,
    WITHDRAWAL_DECISIONS,
    TopicNames,
)
from withdrawguard.engine.holdings import LIQUIDATION_ALERT
from withdrawguard.engine.notices import DENIAL_ALERT
from withdrawguard.progress import Progress
from withdrawguard.settings import Settings
from withdrawguard.sim.delivery import Delivery
from withdrawguard.sim.generate import Simulation
from withdrawguard.sim.quality import Outcome, SellOffAlerts
from withdrawguard.sim.sinks import KafkaSink


class VerdictCollector:
    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        names = TopicNames(settings)
        self.decisions = names.name(WITHDRAWAL_DECISIONS)
        self.dead = names.name(DEAD_LETTERS)
        self.alerts = names.name(FRAUD_ALERTS)
        self.notice_topic = names.name(CUSTOMER_NOTICES)
        self.clock = clock
        self.latest: dict[str, dict[str, Any]] = {}
        self.first_reasons: dict[str, tuple[str, ...]] = {}
        self.sold_off: set[str] = set()
        """Customers with a `liquidation` alert."""
        self.denied: set[str] = set()
        """Customers with a `customer_denial` alert."""
        self.notices: dict[str, str] = {}
        """The notices the worker sent: id -> `created_at`."""
        self.first_hold: dict[str, float] = {}
        self.dead_letters: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._consumer = KafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers,
            group_id=None,
            consumer_timeout_ms=200,
            **kafka_python_options(settings),
        )
        parts = []
        for topic in (self.decisions, self.dead, self.alerts, self.notice_topic):
            found = self._consumer.partitions_for_topic(topic)
            if not found:
                self._consumer.close()
                raise RuntimeError(
                    f"topic {topic} does not exist: run `withdrawguard topics create`"
                )
            parts += [TopicPartition(topic, p) for p in sorted(found)]
        self._consumer.assign(parts)
        self._consumer.seek_to_end()
        for tp in parts:
            self._consumer.position(tp)  # resolve "end" now, before anything is produced
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> VerdictCollector:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._consumer.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            for msg in self._consumer:
                now = self.clock()
                value = orjson.loads(msg.value)
                with self.lock:
                    if msg.topic == self.dead:
                        self.dead_letters.append(value)
                        continue
                    if msg.topic == self.notice_topic:
                        self.notices[value["notice_id"]] = value["created_at"]
                        continue
                    if msg.topic == self.alerts:
                        if value["kind"] == LIQUIDATION_ALERT:
                            self.sold_off.add(value["customer_id"])
                        elif value["kind"] == DENIAL_ALERT:
                            self.denied.add(value["customer_id"])
                        continue
                    wid = value["withdrawal_id"]
                    self.latest[wid] = value
                    codes = tuple(r["code"] for r in value["reasons"])
                    self.first_reasons.setdefault(wid, codes)
                    if value["decision"] == "hold":
                        self.first_hold.setdefault(wid, now)
                if self._stop.is_set():
                    break

    def noticed(self, d: Delivery) -> Delivery | None:
        """`after_notice` with the notices the worker has sent so far."""
        with self.lock:
            return after_notice(d, self.notices)

    def count(self, ids: set[str]) -> int:
        with self.lock:
            return sum(1 for wid in ids if wid in self.latest)

    def outcomes(self, sent: dict[str, float]) -> dict[str, Outcome]:
        """An outcome for every withdrawal that has a verdict."""
        with self.lock:
            out = {}
            for wid, v in self.latest.items():
                if wid not in sent:
                    continue
                held = v["decision"] == "hold"
                latency = (self.first_hold[wid] - sent[wid]) * 1000 if held else None
                codes = tuple(r["code"] for r in v["reasons"])
                out[wid] = Outcome(held, codes, latency)
            return out

    def sell_offs(self, customers: set[str], first_withdrawal: dict[str, str]) -> SellOffAlerts:
        """The alerts on `customers`, given each attacked one's first withdrawal id."""
        with self.lock:
            alerted = self.sold_off & customers
            early = {
                cid
                for cid, wid in first_withdrawal.items()
                if cid in alerted and "LIQUIDATION" in self.first_reasons.get(wid, ())
            }
            return SellOffAlerts(frozenset(alerted), frozenset(early))


def after_notice(d: Delivery, notices: Mapping[str, str]) -> Delivery | None:
    """A customer's answer once the worker has sent the notice it answers (`notices`: id
    -> `created_at`; None before), dated no earlier than the notice; anything else as it
    is.

    The worker dates a notice by the customer's newest event it has read, and it reads the
    topics independently: at the replay's speed it may read hours of simulated time of one
    topic before the change on another, so its notice can be dated after the answer the
    simulation drew from the change's time. A customer answers a notice after it was sent,
    so the answer then comes a second after it (otherwise the worker dead-letters it:
    before its notice)."""
    if d.topic != CUSTOMER_RESPONSES:
        return d
    try:
        body = orjson.loads(d.value)
        notice, answered = body["notice_id"], datetime.fromisoformat(body["occurred_at"])
    except (orjson.JSONDecodeError, TypeError, KeyError, ValueError):
        return d  # malformed: the worker refuses it whenever it comes
    created = notices.get(notice) if isinstance(notice, str) else None
    if created is None:
        return None
    sent = datetime.fromisoformat(created)
    if answered >= sent:
        return d
    later = (sent.replace(microsecond=0) + timedelta(seconds=1)).astimezone(answered.tzinfo)
    return replace(d, value=orjson.dumps({**body, "occurred_at": later.isoformat()}))


@dataclass(frozen=True, slots=True)
class Played:
    outcomes: dict[str, Outcome]
    dead_letters: list[dict[str, Any]]
    missing: set[str]
    """Withdrawals without a verdict when the wait ended."""
    produce_seconds: float
    sell_offs: SellOffAlerts = field(default_factory=SellOffAlerts)
    denied: frozenset[str] = frozenset()
    """Customers a `customer_denial` alert was raised for."""


def play(
    sim: Simulation,
    settings: Settings,
    speed: float | None,
    progress: Progress,
    timeout: float = 120,
    settle: float = 3,
) -> Played:
    """Produce `sim` to the worker's topics and collect its verdicts; waits up to `timeout`
    after the last message for every withdrawal's verdict, then `settle` seconds for late
    evidence to escalate some."""
    wanted = {x["withdrawal_id"] for x in sim.labels if x["record"] == "withdrawal"}
    with VerdictCollector(settings) as collector:
        began = time.monotonic()
        sink = KafkaSink(settings, speed, progress)
        sent = sink.send(sim.deliveries, collector.noticed, wait=timeout)
        produced = time.monotonic() - began
        deadline = time.monotonic() + timeout
        while collector.count(wanted) < len(wanted) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(settle)
        outcomes = collector.outcomes(sent)
        firsts = {a.customer_id: a.withdrawal_ids[0] for a in sim.attacks if a.withdrawal_ids}
        sell_offs = collector.sell_offs({c.id for c in sim.customers}, firsts)
        with collector.lock:
            dead = list(collector.dead_letters)
            denied = frozenset(collector.denied)
    return Played(outcomes, dead, wanted - outcomes.keys(), produced, sell_offs, denied)
