"""The tables' RocksDB (`streaming.table_store`): one memory budget shared by every
partition, and the readings `/metrics` takes of it, on real RocksDB databases opened
with the worker's own options."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from rocksdict import Rdict

from withdrawguard.streaming.faust_internals.table_store import (
    SCHEME,
    SharedMemoryOptions,
    Store,
    TableMemory,
    rocksdb_memory,
    table_keys,
)

MiB = 1024**2


def _open(memory: TableMemory, path: Path, write_buffer: int = 8 * MiB) -> Rdict:
    options = SharedMemoryOptions(
        memory, write_buffer_size=write_buffer, max_write_buffer_number=2, use_rocksdict=True
    )
    return options.open(path)


def _fill(db: Rdict, prefix: str, n: int, size: int = 1000) -> None:
    for i in range(n):
        db[f"{prefix}{i:08d}".encode()] = i.to_bytes(4, "big") * (size // 4)


def _memtables(dbs: list[Rdict]) -> int:
    return rocksdb_memory(SimpleNamespace(_dbs=dict(enumerate(dbs))))["memtables"]


def test_the_partitions_memtables_together_stay_near_the_write_buffer_share(
    tmp_path: Path,
) -> None:
    # 16 MiB budget: all memtables together may take 4 MiB. Each database alone could
    # hold two 8 MiB memtables; without the shared manager the three below would hold
    # about 20 MiB of memtables after 7 MB each, none of them full.
    memory = TableMemory(16 * MiB)
    dbs = [_open(memory, tmp_path / f"p{p}") for p in range(3)]
    for p, db in enumerate(dbs):
        _fill(db, f"p{p}-", 7_000)
    # The manager makes full memtables flush in RocksDB's background threads; on a loaded
    # machine (load average 18 seen) the last flushes may still run when the writes end.
    # The manager checks on each write, so a write each while waiting lets it act on the
    # last ones. Without the manager the memtables stay at about 20 MiB however long one
    # waits.
    deadline = time.monotonic() + 10
    while _memtables(dbs) >= 8 * MiB and time.monotonic() < deadline:
        for db in dbs:
            db[b"~"] = b""
        time.sleep(0.05)
    assert _memtables(dbs) < 8 * MiB
    assert memory.write_buffers.get_usage() > 0  # charged to the shared cache
    for db in dbs:
        db.close()


def test_every_partition_reads_through_one_cache_within_the_budget(tmp_path: Path) -> None:
    memory = TableMemory(8 * MiB)
    dbs = [_open(memory, tmp_path / f"p{p}", write_buffer=1 * MiB) for p in range(2)]
    for p, db in enumerate(dbs):
        _fill(db, f"p{p}-", 12_000)  # 12 MB each, most of it flushed to files
        db.flush()
    before = memory.cached_blocks()
    for p, db in enumerate(dbs):
        for i in range(0, 12_000, 7):
            assert db[f"p{p}-{i:08d}".encode()][:4] == i.to_bytes(4, "big")
    after = memory.cached_blocks()
    assert after > before  # both databases' blocks went into the one cache
    assert memory.cache.get_usage() <= 8 * MiB * 1.05  # 24 MB read through 8 MiB
    for db in dbs:
        db.close()


def test_a_budget_too_small_to_work_with_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 8 MiB"):
        TableMemory(1 * MiB)


def test_memory_is_summed_per_kind_over_the_open_partitions(tmp_path: Path) -> None:
    memory = TableMemory(64 * MiB)
    dbs = {p: _open(memory, tmp_path / f"t-{p}") for p in (0, 1)}
    empty = rocksdb_memory(SimpleNamespace(_dbs=dbs))
    assert set(empty) == {"memtables", "table_readers"}
    _fill(dbs[0], "c", 5000, 200)
    one = rocksdb_memory(SimpleNamespace(_dbs=dbs))
    assert one["memtables"] > empty["memtables"] + 5000 * 200
    _fill(dbs[1], "c", 5000, 200)
    both = rocksdb_memory(SimpleNamespace(_dbs=dbs))
    assert both["memtables"] > one["memtables"] + 5000 * 200
    for db in dbs.values():
        db.close()


def test_a_store_without_rocksdb_has_nothing_to_report() -> None:
    assert rocksdb_memory(SimpleNamespace(data={})) == {}
    assert rocksdb_memory(SimpleNamespace(_dbs={})) == {}


def test_keys_are_rocksdbs_estimate_over_the_active_partitions(tmp_path: Path) -> None:
    memory = TableMemory(16 * MiB)
    dbs = [_open(memory, tmp_path / f"k{p}") for p in range(2)]
    _fill(dbs[0], "a", 3000, 100)
    _fill(dbs[1], "b", 2000, 100)
    for db in dbs:
        db.flush()  # in files, as most keys of a long-running worker are
    table = SimpleNamespace(data=SimpleNamespace(_dbs_for_actives=lambda: iter(dbs)))
    assert 4500 <= table_keys(table) <= 5500
    only_first = SimpleNamespace(data=SimpleNamespace(_dbs_for_actives=lambda: iter(dbs[:1])))
    assert 2700 <= table_keys(only_first) <= 3300
    for db in dbs:
        db.close()


def test_keys_of_a_store_that_is_not_rocksdb_are_counted_exactly() -> None:
    table = type("Table", (dict,), {"data": {}})({b"a": b"1", b"b": b"2"})  # no RocksDB
    assert table_keys(table) == 2


def _app(tmp_path: Path) -> faust.App:
    return faust.App("table-store-test", store=SCHEME, datadir=str(tmp_path), autodiscover=False)


def test_a_table_on_the_scheme_gets_this_store_with_the_apps_budget(tmp_path: Path) -> None:
    memory = TableMemory(16 * MiB)
    table: Any = _app(tmp_path).Table(
        "customers", key_type=bytes, value_type=bytes, options={"memory": memory}
    )
    store = table.data
    assert isinstance(store, Store)
    assert isinstance(store.rocksdb_options, SharedMemoryOptions)
    assert store.rocksdb_options.memory is memory
    db = store._db_for_partition(0)  # noqa: SLF001 - the partition's RocksDB database, to read what the store wrote
    db[b"k"] = b"v"
    assert db[b"k"] == b"v"
    db.close()


def test_a_table_on_the_scheme_without_a_budget_is_refused_by_name(tmp_path: Path) -> None:
    table: Any = _app(tmp_path).Table("customers", key_type=bytes, value_type=bytes)
    with pytest.raises(TypeError, match="needs its TableMemory as the 'memory' option"):
        _ = table.data
