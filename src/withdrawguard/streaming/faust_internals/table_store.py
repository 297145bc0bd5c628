"""The tables' RocksDB: one memory budget for every partition, and readings that stay cheap.

Faust opens one RocksDB database per table partition (3 tables x 6 partitions in a
deployment; a worker left alone after a rebalance holds all 18) and gives each its own
block cache and memtables, so a worker's memory is the partitions it holds times those
bounds, and it creeps up for as long as the caches keep filling (Faust's defaults: a
2 GiB cache and three 64 MiB memtables each). Here every database of the process draws on
one LRU block cache, and one write buffer manager charges their memtables to that cache:
the tables' memory stays near one figure, `WG_TABLE_MEMORY_MB`, however many partitions
the worker holds, and reaches it early instead of growing with the partitions.

This store is Faust's RocksDB store with that memory; tables ask for it with
`wgrocksdb://` (the `faust.stores` entry point in pyproject.toml) and the process's
`TableMemory` as the `memory` option. The data on disk is the same as Faust's.

Readings for `/metrics`, each O(partitions), never O(keys):
- `table_keys`: RocksDB's own estimate of the keys (`rocksdb.estimate-num-keys`).
  `len(table)` on Faust's RocksDB store walks every key in Python on the worker's event
  loop: 78 ms for the ~30,000 keys of a 10,000-customer benchmark, and seconds for a
  brokerage's millions, every time the gauge is refreshed.
- `rocksdb_memory`: each table's memtables and table readers (indexes and filters held
  outside the cache), and `TableMemory.cached_blocks`: the shared cache's blocks, in bytes.
"""

from __future__ import annotations

from typing import Any

import rocksdict
from faust.stores import rocksdb

SCHEME = "wgrocksdb://"
WRITE_BUFFER_SHARE = 4
"""Memtables (all partitions together) may take up to 1/4 of the budget before RocksDB
flushes the largest; the block cache keeps the rest."""

PER_DATABASE = {
    "memtables": "rocksdb.cur-size-all-mem-tables",
    "table_readers": "rocksdb.estimate-table-readers-mem",
}
"""Kind of memory → the RocksDB property giving it, in bytes, per database. The block
cache is not among them: one cache serves every database (`TableMemory.cached_blocks`)."""


class TableMemory:
    """One LRU block cache for every RocksDB database of a worker, with their memtables
    charged to it: `budget` bytes in all (RocksDB keeps close to it, not under it at
    every instant: a memtable being written may overshoot until its flush)."""

    def __init__(self, budget: int) -> None:
        if budget < 8 * 1024**2:
            raise ValueError(f"the tables' memory budget must be at least 8 MiB, got {budget}")
        self.cache = rocksdict.Cache(budget)
        self.write_buffers = rocksdict.WriteBufferManager.new_write_buffer_manager_with_cache(
            budget // WRITE_BUFFER_SHARE, False, self.cache
        )

    def cached_blocks(self) -> int:
        """Bytes of data, index and filter blocks in the shared cache: its usage less the
        memtables charged to it (reported per table, `rocksdb_memory`)."""
        return max(0, self.cache.get_usage() - self.write_buffers.get_usage())


class SharedMemoryOptions(rocksdb.RocksDBOptions):
    """Faust's options for one partition's database, with the shared cache and write
    buffer manager in place of a cache of its own."""

    def __init__(self, memory: TableMemory, **options: Any) -> None:
        super().__init__(**options)
        self.memory = memory

    def as_options(self) -> rocksdict.Options:
        opts = rocksdict.Options(raw_mode=True)
        opts.create_if_missing(True)
        opts.set_max_open_files(-1 if self.max_open_files is None else self.max_open_files)
        opts.set_write_buffer_size(self.write_buffer_size)
        opts.set_max_write_buffer_number(self.max_write_buffer_number)
        opts.set_target_file_size_base(self.target_file_size_base)
        opts.set_write_buffer_manager(self.memory.write_buffers)
        blocks = rocksdict.BlockBasedOptions()
        blocks.set_bloom_filter(self.bloom_filter_size, block_based=True)
        blocks.set_block_cache(self.memory.cache)
        blocks.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
        opts.set_block_based_table_factory(blocks)
        return opts


class Store(rocksdb.Store):
    """Faust's RocksDB store, its partitions drawing on the `memory` option's budget."""

    def __init__(self, *args: Any, options: dict[str, Any] | None = None, **kwargs: Any) -> None:
        options = dict(options or {})
        memory = options.pop("memory", None)
        if not isinstance(memory, TableMemory):
            raise TypeError(f"a {SCHEME} table needs its TableMemory as the 'memory' option")
        super().__init__(*args, options=options, driver="rocksdict", **kwargs)
        self.rocksdb_options = SharedMemoryOptions(memory, **(self.options or {}))


def table_keys(table: Any) -> int:
    """Keys in the table's partitions this worker holds: RocksDB's estimate for a RocksDB
    store (a key overwritten since the last flush or compaction may be counted more than
    once), an exact count for any other."""
    actives = getattr(table.data, "_dbs_for_actives", None)
    if actives is None:
        return len(table)
    return sum(db.property_int_value("rocksdb.estimate-num-keys") or 0 for db in actives())


def rocksdb_memory(store: Any) -> dict[str, int]:
    """Bytes of each `PER_DATABASE` kind of memory, summed over the partitions a RocksDB
    store has open; empty for any other store (the memory store)."""
    dbs = list(getattr(store, "_dbs", {}).values())
    if not dbs:
        return {}
    return {
        kind: sum(db.property_int_value(prop) or 0 for db in dbs)
        for kind, prop in PER_DATABASE.items()
    }
