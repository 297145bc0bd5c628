"""Where a simulation goes: JSON Lines files (for `withdrawguard scan`), or the Kafka
input topics, paced by `--speed`, with a progress bar.

Files: one per input topic in `events/` (`logins.jsonl`, `account-changes.jsonl`,
`withdrawals.jsonl`, `trades.jsonl`, `customer-responses.jsonl`), each in arrival order, so that
`withdrawguard scan <out>/events` reads them all; `labels.jsonl` and `simulation.json`
(options and counts) beside it.
Nothing in them depends on the clock, so the same options give the same bytes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from withdrawguard.contract.topics import TopicNames
from withdrawguard.progress import Progress
from withdrawguard.settings import Settings
from withdrawguard.sim.delivery import Delivery
from withdrawguard.sim.generate import Simulation

EVENTS = "events"
LABELS = "labels.jsonl"
MANIFEST = "simulation.json"
INPUT_TOPICS = ("logins", "account-changes", "withdrawals", "trades", "customer-responses")


def summary(sim: Simulation) -> dict[str, Any]:
    """Options and counts, for `simulation.json` and the command's closing lines."""
    c = sim.config
    withdrawals = [x for x in sim.labels if x["record"] == "withdrawal"]
    per_playbook: dict[str, int] = {}
    for a in sim.attacks:
        per_playbook[a.playbook] = per_playbook.get(a.playbook, 0) + 1
    return {
        "seed": c.seed,
        "customers": c.customers,
        "days": c.days,
        "start": sim.start.isoformat(),
        "end": sim.end.isoformat(),
        "id_prefix": c.id_prefix,
        "rates": {
            "out_of_order": c.rates.out_of_order,
            "duplicates": c.rates.duplicates,
            "malformed": c.rates.malformed,
        },
        "events": len(sim.events),
        "messages": len(sim.deliveries),
        "withdrawals": len(withdrawals),
        "attack_withdrawals": sum(1 for x in withdrawals if x["truth"] == "attack"),
        "trades": sum(1 for _, (topic, _) in sim.events if topic == "trades"),
        "attacks": per_playbook,
        "attacks_that_sold": sum(1 for a in sim.attacks if a.trade_ids),
        "responses": sum(1 for _, (topic, _) in sim.events if topic == "customer-responses"),
        "denials": sum(1 for x in sim.answers if x.answer == "deny"),
        "malformed": sum(1 for x in sim.labels if x["record"] == "malformed"),
    }


def write_labels(labels: Sequence[dict[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        for label in labels:
            fh.write(orjson.dumps(label) + b"\n")


def write_files(sim: Simulation, out_dir: Path) -> list[Path]:
    """The input files, the labels and the manifest; returns their paths."""
    (out_dir / EVENTS).mkdir(parents=True, exist_ok=True)
    paths = [out_dir / EVENTS / f"{topic}.jsonl" for topic in INPUT_TOPICS]
    handles: dict[str, IO[bytes]] = {}
    try:
        for topic, path in zip(INPUT_TOPICS, paths, strict=True):
            handles[topic] = path.open("wb")
        for d in sim.deliveries:
            handles[d.topic].write(d.value + b"\n")
    finally:
        for fh in handles.values():
            fh.close()
    write_labels(sim.labels, out_dir / LABELS)
    manifest = orjson.dumps(summary(sim), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    (out_dir / MANIFEST).write_bytes(manifest + b"\n")
    return [*paths, out_dir / LABELS, out_dir / MANIFEST]


class KafkaSink:
    """Produces deliveries to the input topics; `speed` simulated seconds pass per real
    second (None: as fast as the producer goes)."""

    def __init__(
        self,
        settings: Settings,
        speed: float | None,
        progress: Progress,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if speed is not None and speed <= 0:
            raise ValueError(f"--speed must be above 0, got {speed}")
        self.settings = settings
        self.speed = speed
        self.progress = progress
        self.clock, self.sleep = clock, sleep
        self.names = TopicNames(settings)

    def send(
        self,
        deliveries: Sequence[Delivery],
        ready: Callable[[Delivery], Delivery | None] | None = None,
        wait: float = 60,
        idle: float = 10,
    ) -> dict[str, float]:
        """Produce everything; returns when each withdrawal was first handed to the
        producer (`clock` time), by withdrawal id. `ready` gives what to produce for a
        delivery, or None while it is not ready (a customer's answer to a notice the
        worker has not sent yet): that one is held back and produced as soon as it is, in
        its order; at the end the held ones get up to `wait`
        seconds (less when none became ready for `idle` seconds: no worker is sending
        notices), then go as they are."""
        from kafka import KafkaProducer  # the pure generator does not need it

        from withdrawguard.adapters.kafka_security import kafka_python_options

        producer = KafkaProducer(
            bootstrap_servers=self.settings.bootstrap_servers,
            linger_ms=5,
            acks=1,
            **kafka_python_options(self.settings),
        )
        sent: dict[str, float] = {}
        show = self.progress
        show.phase("produce", len(deliveries), "messages")
        held: list[Delivery] = []
        done = 0

        def produce(d: Delivery) -> None:
            nonlocal done
            if d.withdrawal_id is not None and d.withdrawal_id not in sent:
                sent[d.withdrawal_id] = self.clock()
            producer.send(self.names.name(d.topic), key=d.key, value=d.value)
            done += 1
            show.update(done)

        def release() -> bool:
            if not held or ready is None:
                return False
            now_ready = [(d, r) for d in held if (r := ready(d)) is not None]
            for d, r in now_ready:
                held.remove(d)
                produce(r)
            return bool(now_ready)

        try:
            if deliveries:
                origin, began = deliveries[0].at, self.clock()
                for d in deliveries:
                    if self.speed is not None:
                        due = began + (d.at - origin).total_seconds() / self.speed
                        pause = due - self.clock()
                        if pause > 0.005:
                            producer.flush()
                            self.sleep(pause)
                    release()
                    r = d if ready is None else ready(d)
                    if r is None:
                        held.append(d)
                    else:
                        produce(r)
            producer.flush()
            deadline = self.clock() + wait
            quiet = self.clock() + idle
            while held and self.clock() < min(deadline, quiet):
                self.sleep(0.2)
                if release():
                    producer.flush()
                    quiet = self.clock() + idle
            for d in list(held):
                produce(d)
            producer.flush()
        finally:
            producer.close()
        show.done()
        return sent
