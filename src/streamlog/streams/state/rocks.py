"""A persistent key-value store in RocksDB, through rocksdict (raw mode: bytes in, bytes out).

Theory of operation: one RocksDB database per store, in the store's directory, with RocksDB's
default bytewise comparator (unsigned lexicographic, the order of every store here).  Writes go to
the memtable with RocksDB's write-ahead log turned off, as Kafka Streams configures RocksDB: the
changelog topic is the log.  `flush()` flushes the memtables to SST files and waits (RocksDB syncs
the files it writes), so data flushed before the ``.checkpoint`` file is written survives a crash;
writes after the last flush are lost in a crash and replayed from the changelog.  `close()` flushes,
then closes the database.

Range scans use a RocksDB iterator, which reads from an implicit snapshot taken when the scan
starts: the caller may modify the store while iterating (the scan does not see those changes).  A
forward scan with an upper end sets RocksDB's iterate_upper_bound, so it never steps over the
tombstones of deleted keys beyond the range (window stores delete expired windows one by one).
`approximate_num_entries()` is RocksDB's ``rocksdb.estimate-num-keys`` (inexact after deletes and
overwrites, as in Kafka Streams).  Tuning: 16 MiB write buffers, at most 3, 4 KiB blocks and a
bloom filter, as Kafka Streams; LZ4 compression and level compaction where Kafka Streams uses no
compression and universal compaction (smaller files, measured in docs/bench/streams-stores.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

from rocksdict import (
    BlockBasedOptions,
    DBCompressionType,
    Options,
    Rdict,
    ReadOptions,
    WriteBatch,
    WriteOptions,
)

from streamlog.streams.state.errors import StoreClosedError

RESTORE_BATCH = 10_000  # changelog records per RocksDB write batch during restore


def _options() -> Options:
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    options.set_write_buffer_size(16 * 1024 * 1024)
    options.set_max_write_buffer_number(3)
    options.set_compression_type(DBCompressionType.lz4())
    options.set_max_background_jobs(2)
    table = BlockBasedOptions()
    table.set_block_size(4096)
    table.set_bloom_filter(10, False)
    options.set_block_based_table_factory(table)
    options.set_keep_log_file_num(2)
    return options


class RocksKeyValueStore:
    """A `KeyValueBytesStore` in a RocksDB database in `directory`; `flush()` writes SST files."""

    persistent = True

    def __init__(self, name: str, directory: Path) -> None:
        self.name = name
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._db: Rdict | None = Rdict(str(directory), _options())
        self._write = WriteOptions()
        # a property at run time, though rocksdict's stub declares a method
        setattr(self._write, "disable_wal", True)  # noqa: B010
        self._db.set_write_options(self._write)

    def _open(self) -> Rdict:
        if self._db is None:
            raise StoreClosedError(self.name)
        return self._db

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._open().get(key)
        return value

    def put(self, key: bytes, value: bytes | None) -> None:
        if value is None:
            self._open().delete(key)
        else:
            self._open().put(key, value)

    def delete(self, key: bytes) -> bytes | None:
        db = self._open()
        old: bytes | None = db.get(key)
        if old is not None:
            db.delete(key)
        return old

    def range(self, lo: bytes | None, hi: bytes | None,
              reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        db = self._open()
        if lo is not None and hi is not None and lo > hi:
            return iter(())
        return self._scan(db, lo, hi, reverse)

    def all(self) -> Iterator[tuple[bytes, bytes]]:
        return self.range(None, None)

    def _scan(self, db: Rdict, lo: bytes | None, hi: bytes | None,
              reverse: bool) -> Iterator[tuple[bytes, bytes]]:
        bounds = None
        if not reverse and hi is not None:
            # stop at hi inside RocksDB: without an upper bound, the last step() walks over every
            # tombstone after the range (deleted windows) before it finds the next live key
            bounds = ReadOptions()
            bounds.set_iterate_upper_bound(hi + b"\x00")
        it = db.iter(bounds) if bounds is not None else db.iter()
        if reverse:
            if hi is None:
                it.seek_to_last()
            else:
                it.seek_for_prev(hi)
        elif lo is None:
            it.seek_to_first()
        else:
            it.seek(lo)
        step = it.prev if reverse else it.next
        stop = lo if reverse else hi  # the bound the scan walks towards
        while it.valid():
            if self._db is not db:  # closed while the caller iterated: RocksDB's handle must go
                del it, step, bounds
                raise StoreClosedError(self.name)
            key: bytes = it.key()
            if stop is not None and (key < stop if reverse else key > stop):
                return
            yield key, it.value()
            step()

    def approximate_num_entries(self) -> int:
        return self._open().property_int_value("rocksdb.estimate-num-keys") or 0

    def restore(self, batch: Iterable[tuple[bytes, bytes | None]]) -> None:
        db = self._open()
        records = iter(batch)
        while chunk := list(islice(records, RESTORE_BATCH)):
            writes = WriteBatch(raw_mode=True)
            for key, value in chunk:
                if value is None:
                    writes.delete(key)
                else:
                    writes.put(key, value)
            db.write(writes, self._write)

    def flush(self) -> None:
        self._open().flush(wait=True)

    def close(self) -> None:
        if self._db is None:
            return
        db, self._db = self._db, None
        db.flush(wait=True)
        db.close()

    def __repr__(self) -> str:
        return f"RocksKeyValueStore({self.name!r}, {self.directory})"
