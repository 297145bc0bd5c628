"""What `/metrics` says a table's RocksDB partitions hold in memory
(`streaming.monitoring.rocksdb_memory`), read from real RocksDB databases opened with the
worker's own options."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from faust.stores.rocksdb import RocksDBOptions

from withdrawguard.streaming.monitoring import rocksdb_memory


def test_it_sums_each_kind_over_the_open_partitions(tmp_path: Path) -> None:
    options = RocksDBOptions(write_buffer_size=4 * 1024**2, block_cache_size=1024**2)
    dbs = {p: options.open(tmp_path / f"t-{p}.db") for p in (0, 1)}
    empty = rocksdb_memory(SimpleNamespace(_dbs=dbs))
    assert set(empty) == {"block_cache", "memtables", "table_readers"}
    for i in range(5000):
        dbs[0][f"c{i}".encode()] = b"x" * 200
    one = rocksdb_memory(SimpleNamespace(_dbs=dbs))
    assert one["memtables"] > empty["memtables"] + 5000 * 200
    for i in range(5000):
        dbs[1][f"c{i}".encode()] = b"x" * 200
    both = rocksdb_memory(SimpleNamespace(_dbs=dbs))
    assert both["memtables"] > one["memtables"] + 5000 * 200
    for db in dbs.values():
        db.close()


def test_a_store_without_rocksdb_has_nothing_to_report() -> None:
    assert rocksdb_memory(SimpleNamespace(data={})) == {}
    assert rocksdb_memory(SimpleNamespace(_dbs={})) == {}
