"""The PostgreSQL side of ``bench.connect``: the tables, the write loads, slots, and the ceiling.

Theory of operation: the benchmark runs one throwaway cluster (``tests.support.pgcluster``: initdb in a
temporary directory, ``wal_level=logical``, fsync off) and never touches the machine's own server.  It
runs with ``synchronous_commit`` on (:data:`SETTINGS`): a walsender decodes WAL only up to the flush
position, and with asynchronous commits that position moves once per ``wal_writer_delay`` (200 ms), which
would then be most of every commit-to-visible latency (with fsync off a flush costs next to nothing).
:func:`prepare` creates the two captured tables and one publication over them:

* ``bench_orders`` (the throughput load): ``id bigint`` primary key, ``customer_id integer``,
  ``amount numeric(12,2)``, ``status text``, ``updated_at timestamptz``, ``note text`` (about 40 bytes).
* ``bench_latency`` (the latency load): ``id bigint`` primary key, ``committed_at_us bigint`` (the
  writer's wall clock just before its commit), ``note text``.

and ``bench_marker``, outside the publication: after a load, one row there puts a WAL record past the
load's end LSN, so a reader stopping at that LSN sees it reached at once.

:func:`plan_load` draws a write load from a seed: transactions of 10 to 100 row changes, about half
inserts of new ids and half updates of ids inserted by earlier transactions (never a primary-key change
and never a delete, so each row change is exactly one record on the topic).  :func:`write_load` applies
it with one connection, a multi-row ``INSERT`` and a multi-row ``UPDATE ... FROM (VALUES ...)`` per
transaction, and checks every statement's row count.  Each run gets an id range of its own (``id_base``),
so runs never collide.

Every consumer of changes (the connector under each broker, ``pg_recvlogical``) reads a logical slot of
its own, created with :func:`create_slot` before the changes it must see are written; :func:`drop_slot`
removes it after the run so no slot holds WAL.  :class:`SlotWatcher` polls ``pg_replication_slots``
every few ms and records when a slot first became active: the start of streaming.

The ceiling (``pg_recvlogical`` reading the same changes) is in ``bench.connect_ceiling``.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import psycopg2
from psycopg2.extras import execute_values

ORDERS: Final = "bench_orders"
LATENCY: Final = "bench_latency"
PUBLICATION: Final = "bench_pub"
MARKER: Final = "bench_marker"
SETTINGS: Final = {"synchronous_commit": "on"}
STATUSES: Final = ("new", "paid", "packed", "shipped", "delivered")
NOTE: Final = "order placed through the benchmark shop, "  # about 40 bytes

DDL: Final = (
    f"CREATE TABLE {ORDERS} (id bigint PRIMARY KEY, customer_id integer NOT NULL, "
    "amount numeric(12,2) NOT NULL, status text NOT NULL, updated_at timestamptz NOT NULL, note text)",
    f"CREATE TABLE {LATENCY} (id bigint PRIMARY KEY, committed_at_us bigint NOT NULL, note text)",
    f"CREATE TABLE {MARKER} (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())",
    f"CREATE PUBLICATION {PUBLICATION} FOR TABLE {ORDERS}, {LATENCY}",
)


@dataclass(frozen=True, slots=True)
class Transaction:
    """One transaction of a load: ids to insert, ids (inserted earlier) to update."""

    inserts: tuple[int, ...]
    updates: tuple[int, ...]

    @property
    def changes(self) -> int:
        return len(self.inserts) + len(self.updates)


@dataclass(frozen=True, slots=True)
class LoadResult:
    changes: int
    transactions: int
    seconds: float
    end_lsn: str  # pg_current_wal_lsn() after the last commit

    @property
    def changes_per_s(self) -> float:
        return self.changes / self.seconds if self.seconds > 0 else 0.0


def connect(dsn: str) -> Any:
    return psycopg2.connect(dsn)


def sql(dsn: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """One statement in autocommit; its rows (empty when it returns none)."""
    conn = connect(dsn)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(statement, params)
            return list(cur.fetchall()) if cur.description else []
    finally:
        conn.close()


def prepare(dsn: str) -> None:
    for statement in DDL:
        sql(dsn, statement)


def create_slot(dsn: str, name: str) -> str:
    """A pgoutput slot starting at the current WAL position; returns that position."""
    rows = sql(dsn, "SELECT lsn::text FROM pg_create_logical_replication_slot(%s, 'pgoutput')", (name,))
    return str(rows[0][0])


def drop_slot(dsn: str, name: str, timeout: float = 30.0) -> None:
    """Drop the slot, waiting (bounded) for its reader to let go of it; no error if it is gone."""
    deadline = time.monotonic() + timeout
    while True:
        rows = sql(dsn, "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (name,))
        if not rows:
            return
        if not rows[0][0]:
            sql(dsn, "SELECT pg_drop_replication_slot(%s)", (name,))
            return
        if time.monotonic() > deadline:
            sql(dsn, "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = %s",
                (name,))
            deadline = time.monotonic() + timeout
        time.sleep(0.1)


def current_lsn(dsn: str) -> str:
    return str(sql(dsn, "SELECT pg_current_wal_lsn()::text")[0][0])


def lsn_int(text: str) -> int:
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def plan_load(changes: int, seed: int, id_base: int, min_txn: int = 10,
              max_txn: int = 100) -> list[Transaction]:
    """Transactions of ``min_txn``..``max_txn`` row changes, ``changes`` in all; see the module doc."""
    rng = random.Random(seed)
    inserted: list[int] = []
    plan: list[Transaction] = []
    left = changes
    next_id = id_base
    while left > 0:
        size = min(left, rng.randint(min_txn, max_txn))
        updates = min(size // 2, len(inserted))
        updates = rng.randint(0, updates) if updates else 0
        updated = tuple(sorted(rng.sample(inserted, updates))) if updates else ()
        inserts = tuple(range(next_id, next_id + size - updates))
        next_id += len(inserts)
        inserted.extend(inserts)
        plan.append(Transaction(inserts, updated))
        left -= size
    return plan


def write_load(dsn: str, plan: list[Transaction], stop: threading.Event | None = None) -> LoadResult:
    """Apply the plan, one database transaction per :class:`Transaction`; see the module doc."""
    conn = connect(dsn)
    changes = 0
    began = time.perf_counter()
    try:
        with conn.cursor() as cur:
            for number, txn in enumerate(plan):
                if stop is not None and stop.is_set():
                    break
                if txn.inserts:
                    rows = [(i, i % 1000, Decimal(i % 100_000) / 100, STATUSES[0], f"{NOTE}{i}")
                            for i in txn.inserts]
                    execute_values(cur, f"INSERT INTO {ORDERS} (id, customer_id, amount, status, updated_at, "
                                        "note) VALUES %s", rows, template="(%s, %s, %s, %s, now(), %s)",
                                   page_size=len(rows))
                    _expect(cur.rowcount, len(rows), "insert")
                if txn.updates:
                    updates = [(i, STATUSES[1 + (i + number) % 4]) for i in txn.updates]
                    execute_values(cur, f"UPDATE {ORDERS} o SET status = v.status, updated_at = now(), "
                                        "amount = o.amount + 1 FROM (VALUES %s) AS v(id, status) "
                                        "WHERE o.id = v.id", updates, template="(%s::bigint, %s)",
                                   page_size=len(updates))
                    _expect(cur.rowcount, len(updates), "update")
                conn.commit()
                changes += txn.changes
        seconds = time.perf_counter() - began
        with conn.cursor() as cur:
            cur.execute("SELECT pg_current_wal_lsn()::text")
            end = str(cur.fetchone()[0])
            cur.execute(f"INSERT INTO {MARKER} DEFAULT VALUES")
        conn.commit()
    finally:
        conn.close()
    return LoadResult(changes, len(plan), seconds, end)


def _expect(got: int, want: int, what: str) -> None:
    if got != want:
        raise RuntimeError(f"{what} changed {got} rows, expected {want}")


def write_latency_rows(dsn: str, first_id: int, count: int, interval_s: float,
                       committed: dict[int, float], stop: threading.Event) -> None:
    """Insert ``count`` rows into bench_latency, one per transaction every ``interval_s``; ``committed``
    gets each id's wall time (time.time()) right after its commit returned."""
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            next_at = time.monotonic()
            for row_id in range(first_id, first_id + count):
                if stop.is_set():
                    return
                delay = next_at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                next_at += interval_s
                cur.execute(f"INSERT INTO {LATENCY} (id, committed_at_us, note) VALUES (%s, %s, %s)",
                            (row_id, int(time.time() * 1e6), NOTE))
                conn.commit()
                committed[row_id] = time.time()
    finally:
        conn.close()


class SlotWatcher:
    """Polls a slot's ``active`` flag every ``interval`` s on a thread; ``active_at`` is the
    time.monotonic() it was first seen active, ``pid`` the backend serving it."""

    def __init__(self, dsn: str, slot: str, interval: float = 0.005) -> None:
        self.dsn = dsn
        self.slot = slot
        self.interval = interval
        self.active_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"slot-{slot}", daemon=True)

    def __enter__(self) -> SlotWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        conn = connect(self.dsn)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                while not self._stop.is_set():
                    cur.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (self.slot,))
                    row = cur.fetchone()
                    if row is not None and row[0]:
                        self.active_at = time.monotonic()
                        return
                    self._stop.wait(self.interval)
        finally:
            conn.close()


def poll_until(check: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


def ids_of(plan: list[Transaction]) -> Iterator[int]:
    for txn in plan:
        yield from txn.inserts
