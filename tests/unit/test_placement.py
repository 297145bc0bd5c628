"""Placement picks the partition Kafka's Java client (murmur2) gives a key, and says
"in place" only there, over equal partition counts."""

from __future__ import annotations

import pytest

from withdrawguard.streaming.detect.placement import Placement

# Kafka's own test vectors for Utils.murmur2 (clients' UtilsTest), signed 32-bit.
JAVA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


def placement(inputs: int | None, internal: int | None) -> Placement:
    counts = {"in": inputs, "ce": internal}
    return Placement("ce", counts.get)


@pytest.mark.parametrize("partitions", [1, 3, 6, 7, 12])
@pytest.mark.parametrize("key", sorted(JAVA_MURMUR2))
def test_in_place_exactly_on_the_partition_the_java_client_chooses(
    key: bytes, partitions: int
) -> None:
    java = (JAVA_MURMUR2[key] & 0x7FFFFFFF) % partitions
    p = placement(partitions, partitions)
    assert [q for q in range(partitions) if p.in_place("in", q, key)] == [java]


def test_never_in_place_when_the_counts_differ_or_are_unknown() -> None:
    for p in (placement(12, 6), placement(6, 12), placement(None, 6), placement(6, None)):
        assert not any(p.in_place("in", q, b"abc") for q in range(12))
