"""A worker profile's samples grouped by stage, as docs/performance.md's profile tables.

    .venv/bin/python bench/profile_groups.py DIR/worker.collapsed

Reads py-spy's raw (collapsed) stacks, as `bench/throughput.py --profile DIR` writes them,
and gives each stage's share of the samples: each sample counted once, in the first
stage of `STAGES` one of its frames belongs to (a frame is "function (path:line)"; a
stage names functions or parts of paths). A batch's decide-and-send frames come before
Faust's stream path, which is below them on every agent's stack.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("state codec (`decode_state`, `encode_state`)", ("decode_state ", "encode_state ")),
    ("engine (`Engine.apply`)", ("Engine.apply ",)),
    ("table reads (RocksDB `get`, once per key per batch)", ("TableWrites.get ",)),
    (
        "table writes (changelog records handed over, RocksDB write batches, offsets)",
        ("TableWrites.",),
    ),
    (
        "producing: handing records over, waiting for acknowledgements",
        ("Outbox.flush ", "producer_of.", "_acknowledged ", "detect/writes.py"),
    ),
    ("produce requests (aiokafka's sender)", ("aiokafka/producer/",)),
    ("Faust's sensors (the lean monitor)", ("faust_internals/sensors.py", "faust/sensors/")),
    ("cross-customer stages (IP, device and destination tables)", ("observation_stages.py",)),
    ("links feed (Redis)", ("streaming/sinks/links.py", "adapters/link_store.py")),
    ("registry and case feeds (Redis)", ("streaming/sinks/",)),
    ("Redis commands sent on tasks of their own (the feeds')", ("redis/asyncio/",)),
    (
        "input validation, grouping and the rest of the batch code",
        ("Pipeline.handle ",),
    ),
    (
        "Faust's stream path (conductor, channel, stream iterator, `take_events`, acks)",
        ("faust/agents/", "faust/streams.py", "faust/channels.py", "faust/transport/conductor"),
    ),
    (
        "consumer fetching (Faust's consumer, the drain loop, aiokafka's fetcher)",
        ("faust/transport/consumer.py", "faust_internals/drain.py", "aiokafka/consumer/"),
    ),
]
REST = "the rest: the event loops, mode's services, the consumer thread"


def stage_of(frames: list[str]) -> str:
    for stage, marks in STAGES:
        if any(mark in frame for frame in frames for mark in marks):
            return stage
    return REST


def grouped(collapsed: Path) -> tuple[list[tuple[str, float]], int]:
    """(stage, share of the samples) in `STAGES` order, then the rest; and the samples."""
    counts: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        counts[stage_of(stack.split(";"))] += int(count)
        total += int(count)
    order = [stage for stage, _ in STAGES] + [REST]
    return [(s, counts[s] / total if total else 0.0) for s in order], total


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    shares, total = grouped(Path(sys.argv[1]))
    print(f"| stage | share |  ({total:,} samples)\n|---|---|")
    for stage, share in shares:
        print(f"| {stage} | {share:.1%} |")


if __name__ == "__main__":
    main()
