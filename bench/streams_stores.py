"""The bytes stores of `streamlog.streams.state`, measured on the workloads a stream task puts on them.

The shipped stores are the in-memory one and RocksDB through rocksdict (WAL off, `flush()` =
memtable flush, as Kafka Streams runs RocksDB); the SQLite candidate that lost (and the RocksDB
variant with its write-ahead log on) are defined here, so the comparison can be run again.
Figures and the choice: docs/bench/streams-stores.md.

Theory of operation: each store configuration runs the same four workloads, in this process, one
after another, on a fresh directory under ``--dir`` (default: the temp dir):

- ``count``: a keyed count, the commonest stateful operation: per record one `get` and one `put`
  of an 8-byte big-endian counter, keys drawn uniformly from ``--keys`` (100k) keys, ``--ops`` (1M)
  records, with a `flush()` every ``--flush-every`` (100k) records as a commit would.
- ``scan``: 10k range scans of 100 consecutive keys from random starts, then one full scan.
- ``restore``: a fresh store restored from ``--restore`` (1M) changelog records with distinct keys,
  in batches of 1000 (a consumer poll's worth), then flushed.
- ``flush``: the cost of `flush()` after 1k and 10k dirty keys (median of 5 rounds each), and of
  reopening the restored store and reading one key.

Every figure is wall-clock time and this process's CPU time (which includes RocksDB's background
threads).  Prints a Markdown table and, with ``--json``, one JSON line per configuration and run.
On a shared machine use ``--repeat 3``: configurations run round-robin and each figure keeps its
best (lowest) value, so a burst of load elsewhere does not decide the comparison.

    python -m bench.streams_stores [--ops 1000000 --keys 100000 --restore 1000000] [--repeat 3]
    python -m bench.streams_stores --only rocksdict-nowal --only sqlite-wal-full
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from rocksdict import WriteOptions

from streamlog.streams.interfaces import KeyValueBytesStore
from streamlog.streams.state.errors import StoreClosedError
from streamlog.streams.state.memory import InMemoryKeyValueStore
from streamlog.streams.state.rocks import RocksKeyValueStore

SQLITE_SCAN_CHUNK = 512  # rows read per query of a range scan

_SQL_SCHEMA = "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID"
_SQL_PUT = "INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)"
_SQL_DELETE = "DELETE FROM kv WHERE k = ?"


class SqliteKeyValueStore:
    """The SQLite candidate (measured, not chosen): one ``kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID``
    table in ``<directory>/store.sqlite``; writes go into one open transaction, `flush()` commits it
    (with WAL and ``synchronous=FULL`` the commit fsyncs the log).  Range scans read chunks of rows,
    each a complete query, so the store may change between chunks.  It passed the stateful model
    test of tests/streams/state/test_state_stores_model.py before it was measured."""

    persistent = True

    def __init__(self, name: str, directory: Path, *, wal: bool = True, synchronous: str = "FULL",
                 cache_mib: int = 64) -> None:
        self.name = name
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions; this class issues BEGIN and COMMIT itself.
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            directory / "store.sqlite", isolation_level=None, check_same_thread=False)
        conn = self._conn
        conn.execute(f"PRAGMA journal_mode={'WAL' if wal else 'DELETE'}")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute(f"PRAGMA cache_size=-{cache_mib * 1024}")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute(_SQL_SCHEMA)

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreClosedError(self.name)
        return self._conn

    def _writable(self) -> sqlite3.Connection:
        conn = self._db()
        if not conn.in_transaction:
            conn.execute("BEGIN")
        return conn

    def get(self, key: bytes) -> bytes | None:
        row = self._db().execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def put(self, key: bytes, value: bytes | None) -> None:
        conn = self._writable()
        if value is None:
            conn.execute(_SQL_DELETE, (key,))
        else:
            conn.execute(_SQL_PUT, (key, value))

    def delete(self, key: bytes) -> bytes | None:
        rows = self._writable().execute("DELETE FROM kv WHERE k = ? RETURNING v", (key,)).fetchall()
        return bytes(rows[0][0]) if rows else None

    def range(self, lo: bytes | None, hi: bytes | None,
              reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        self._db()
        if lo is not None and hi is not None and lo > hi:
            return iter(())
        return self._scan(lo, hi, reverse)

    def all(self) -> Iterator[tuple[bytes, bytes]]:
        return self.range(None, None)

    def _scan(self, lo: bytes | None, hi: bytes | None, reverse: bool) -> Iterator[tuple[bytes, bytes]]:
        lo_op = hi_op = "<="  # the first chunk is inclusive at both ends; later ones resume past a key
        while True:
            clauses, args = [], []
            if lo is not None:
                clauses.append(f"? {lo_op} k")
                args.append(lo)
            if hi is not None:
                clauses.append(f"k {hi_op} ?")
                args.append(hi)
            where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
            order = "DESC" if reverse else "ASC"
            rows = self._db().execute(
                f"SELECT k, v FROM kv {where}ORDER BY k {order} LIMIT {SQLITE_SCAN_CHUNK}", args).fetchall()
            for key, value in rows:
                yield bytes(key), bytes(value)
            if len(rows) < SQLITE_SCAN_CHUNK:
                return
            if reverse:
                hi, hi_op = bytes(rows[-1][0]), "<"
            else:
                lo, lo_op = bytes(rows[-1][0]), "<"

    def approximate_num_entries(self) -> int:
        count: int = self._db().execute("SELECT count(*) FROM kv").fetchone()[0]
        return count

    def restore(self, batch: Iterable[tuple[bytes, bytes | None]]) -> None:
        """Apply a batch of changelog records in order (None deletes), in the open transaction."""
        conn = self._writable()
        puts: list[tuple[bytes, bytes]] = []
        for key, value in batch:
            if value is None:
                if puts:
                    conn.executemany(_SQL_PUT, puts)
                    puts = []
                conn.execute(_SQL_DELETE, (key,))
            else:
                puts.append((key, value))
        if puts:
            conn.executemany(_SQL_PUT, puts)

    def flush(self) -> None:
        conn = self._db()
        if conn.in_transaction:
            conn.execute("COMMIT")

    def close(self) -> None:
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        if conn.in_transaction:
            conn.execute("COMMIT")
        conn.close()


class RocksWithWal(RocksKeyValueStore):
    """The alternative RocksDB setup: write-ahead log on, `flush()` = fsync of the log."""

    def __init__(self, name: str, directory: Path) -> None:
        super().__init__(name, directory)
        self._write = WriteOptions()
        self._open().set_write_options(self._write)

    def flush(self) -> None:
        self._open().flush_wal(sync=True)


Opener = Callable[[Path], KeyValueBytesStore]

CONFIGS: dict[str, Opener] = {
    "memory": lambda d: InMemoryKeyValueStore("s"),
    "sqlite-wal-full": lambda d: SqliteKeyValueStore("s", d, wal=True, synchronous="FULL"),
    "sqlite-wal-normal": lambda d: SqliteKeyValueStore("s", d, wal=True, synchronous="NORMAL"),
    "sqlite-rollback-full": lambda d: SqliteKeyValueStore("s", d, wal=False, synchronous="FULL"),
    "rocksdict-nowal": lambda d: RocksKeyValueStore("s", d),
    "rocksdict-wal": lambda d: RocksWithWal("s", d),
}


@dataclass
class Timing:
    wall: float = 0.0
    cpu: float = 0.0


@dataclass
class Result:
    config: str
    figures: dict[str, Timing] = field(default_factory=dict)
    disk_mib: float = 0.0

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        self.figures[name] = Timing(time.perf_counter() - wall, time.process_time() - cpu)


def key_of(i: int) -> bytes:
    return b"key-%08d" % i


def run(config: str, opener: Opener, root: Path, args: argparse.Namespace) -> Result:
    result = Result(config)
    rng = random.Random(42)
    directory = root / config
    store = opener(directory / "count")
    draws = [key_of(rng.randrange(args.keys)) for _ in range(args.ops)]
    with result.timed("count"):
        for n, key in enumerate(draws, 1):
            old = store.get(key)
            store.put(key, (int.from_bytes(old, "big") + 1 if old else 1).to_bytes(8, "big"))
            if n % args.flush_every == 0:
                store.flush()
        store.flush()
    total = sum(int.from_bytes(v, "big") for _, v in store.all())
    assert total == args.ops, (config, total)
    starts = [key_of(rng.randrange(args.keys - 100)) for _ in range(10_000)]
    with result.timed("scan100"):
        for lo in starts:
            hi = key_of(int(lo[4:]) + 99)
            for _ in store.range(lo, hi):
                pass
    with result.timed("scan_all"):
        rows = sum(1 for _ in store.all())
    assert rows == store.approximate_num_entries() or store.persistent
    for dirty in (1_000, 10_000):
        times = []
        for _ in range(5):
            for _ in range(dirty):
                store.put(key_of(rng.randrange(args.keys)), b"\x00" * 8)
            wall = time.perf_counter()
            store.flush()
            times.append(time.perf_counter() - wall)
        result.figures[f"flush{dirty // 1000}k"] = Timing(statistics.median(times), 0.0)
    store.close()

    restored = opener(directory / "restore")
    batch = 1000
    with result.timed("restore"):
        for start in range(0, args.restore, batch):
            restored.restore([(b"chg-%09d" % i, b"v" * 16) for i in range(start, start + batch)])
        restored.flush()
    restored.close()
    result.disk_mib = sum(f.stat().st_size for f in directory.rglob("*") if f.is_file()) / 2**20
    if restored.persistent:
        with result.timed("reopen"):
            again = opener(directory / "restore")
            assert again.get(b"chg-%09d" % (args.restore - 1)) == b"v" * 16
        again.close()
    shutil.rmtree(directory, ignore_errors=True)
    return result


def table(results: list[Result], args: argparse.Namespace) -> str:
    ops, n = args.ops, args.restore
    lines = [
        "| store | count: records/s (wall) | count: µs CPU/record | scan 100 keys: µs | full scan: ms "
        "| restore: records/s | flush 1k dirty: ms | flush 10k dirty: ms | reopen: ms | disk MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        f = r.figures
        reopen = f"{f['reopen'].wall * 1e3:.1f}" if "reopen" in f else "-"
        lines.append(
            f"| {r.config} | {ops / f['count'].wall:,.0f} | {f['count'].cpu / ops * 1e6:.2f} "
            f"| {f['scan100'].wall / 10_000 * 1e6:.0f} | {f['scan_all'].wall * 1e3:.0f} "
            f"| {n / f['restore'].wall:,.0f} | {f['flush1k'].wall * 1e3:.2f} "
            f"| {f['flush10k'].wall * 1e3:.2f} "
            f"| {reopen} | {r.disk_mib:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--ops", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--restore", type=int, default=1_000_000)
    parser.add_argument("--flush-every", type=int, default=100_000)
    parser.add_argument("--only", action="append", choices=sorted(CONFIGS))
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=1,
                        help="run the configurations round-robin N times and keep each figure's best")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="streams-stores-", dir=args.dir))
    best: dict[str, Result] = {}
    try:
        for _ in range(args.repeat):
            for name in args.only or list(CONFIGS):
                result = run(name, CONFIGS[name], root, args)
                if args.json:
                    figures = {k: [round(t.wall, 4), round(t.cpu, 4)] for k, t in result.figures.items()}
                    print(json.dumps({"config": name, "disk_mib": round(result.disk_mib, 1), **figures}),
                          flush=True)
                kept = best.setdefault(name, result)
                for key, timing in result.figures.items():
                    mine = kept.figures[key]
                    kept.figures[key] = Timing(min(mine.wall, timing.wall), min(mine.cpu, timing.cpu))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(table(list(best.values()), args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
