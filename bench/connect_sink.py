"""The sink workload of ``bench.connect``: N records upserted by the JDBC sink into Postgres and SQLite.

Theory of operation: :func:`fill_topic` writes N records to a one-partition topic, JSON with the schema block
(Kafka Connect's JsonConverter with ``schemas.enable=true``)::

    key    {"schema": struct bench.Key {id int64}, "payload": {"id": K}}
    value  {"schema": struct bench.Order {id int64, customer_id int32, amount float64, status string,
            note string, seq int64}, "payload": {...}}

The first three quarters are inserts of ids 0..K-1, the rest updates of ids drawn at random (``seq`` is the
record's index, so each id's final ``seq`` is known), and the very last record has id -1: the sentinel.
Rows are applied in offset order (one partition), so once the sentinel's row is in the table every record
before it is too.  :func:`run_sink` starts ``jdbc-sink`` (``insert.mode=upsert``, ``pk.mode=record_key``,
``auto.create=true``) in a child process on that topic and polls the target for the sentinel (Postgres
every 20 ms, SQLite every 50 ms through a read-only connection); then it checks the table: K+1 rows
and the sum of the final ``seq`` values.  The clock starts when the first rows are visible (the count then
is subtracted: they were applied before the clock started), so consumer-group start-up is reported apart
(``startup_s``: launch to first rows); rows/s is records applied per second, updates included.  The
connector's CPU is measured over the same window.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from confluent_kafka import Producer

from bench.connect_worker import ConnectorProcess
from bench.streams_data import create_topic

Progress = Callable[[str], None]
SENTINEL: Final = -1
KEY_SCHEMA: Final = {"type": "struct", "name": "bench.Key", "optional": False,
                     "fields": [{"field": "id", "type": "int64", "optional": False}]}
VALUE_SCHEMA: Final = {"type": "struct", "name": "bench.Order", "optional": False, "fields": [
    {"field": "id", "type": "int64", "optional": False},
    {"field": "customer_id", "type": "int32", "optional": False},
    {"field": "amount", "type": "float64", "optional": False},
    {"field": "status", "type": "string", "optional": False},
    {"field": "note", "type": "string", "optional": True},
    {"field": "seq", "type": "int64", "optional": False},
]}
STATUSES: Final = ("new", "paid", "packed", "shipped", "delivered")
JSON_CONVERTER: Final = "org.apache.kafka.connect.json.JsonConverter"


class SinkError(RuntimeError):
    """The sink did not apply every record, or applied them wrongly."""


@dataclass(frozen=True, slots=True)
class SinkTopic:
    topic: str
    records: int
    rows: int  # distinct ids, the sentinel included
    seq_sum: int  # sum over ids of the final seq


def _json(schema: dict[str, Any], payload: dict[str, Any]) -> bytes:
    return json.dumps({"schema": schema, "payload": payload}, separators=(",", ":")).encode()


def fill_topic(bootstrap: str, topic: str, records: int, seed: int = 11) -> SinkTopic:
    """Write the records (see the module doc); returns what the table must hold afterwards."""
    rng = random.Random(seed)
    create_topic(bootstrap, topic, 1)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": "all",
                         "batch.num.messages": 5000, "log_level": 4})
    inserts = max(1, (records - 1) * 3 // 4)
    final: dict[int, int] = {}
    errors: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    for seq in range(records):
        row_id = SENTINEL if seq == records - 1 else seq if seq < inserts else rng.randrange(inserts)
        final[row_id] = seq
        value = {"id": row_id, "customer_id": row_id % 1000, "amount": (row_id % 100_000) / 100 + seq % 7,
                 "status": STATUSES[seq % 5], "note": f"order {row_id} via the benchmark shop", "seq": seq}
        while True:
            try:
                producer.produce(topic, key=_json(KEY_SCHEMA, {"id": row_id}),
                                 value=_json(VALUE_SCHEMA, value), on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(120) != 0 or errors:
        raise SinkError(f"filling {topic} failed: {errors[:3] or 'flush timed out'}")
    return SinkTopic(topic, records, len(final), sum(final.values()))


class Target:
    """Where a sink run writes, and how to look at it (Postgres or SQLite)."""

    def __init__(self, kind: str, url: str, reader: Callable[[str], list[tuple[Any, ...]]],
                 poll_s: float) -> None:
        self.kind = kind
        self.url = url
        self._reader = reader
        self.poll_s = poll_s

    def query(self, statement: str) -> list[tuple[Any, ...]] | None:
        """The statement's rows, or None while the table does not exist or the database is busy."""
        try:
            return self._reader(statement)
        except Exception:  # no table yet (auto.create), a lock: not there yet
            return None


def postgres_target(host: str, port: int, dbname: str) -> Target:
    import psycopg2

    conn = psycopg2.connect(f"host={host} port={port} user=postgres dbname={dbname}")
    conn.autocommit = True

    def read(statement: str) -> list[tuple[Any, ...]]:
        with conn.cursor() as cur:
            cur.execute(statement)
            return list(cur.fetchall())

    return Target("postgres", f"jdbc:postgresql://{host}:{port}/{dbname}?user=postgres", read, 0.02)


def sqlite_target(path: Path) -> Target:
    def read(statement: str) -> list[tuple[Any, ...]]:
        if not path.exists():
            raise FileNotFoundError(path)
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.05)
        try:
            return list(conn.execute(statement).fetchall())
        finally:
            conn.close()

    return Target("sqlite", f"jdbc:sqlite:{path}", read, 0.05)


def sink_config(name: str, topic: str, target: Target) -> dict[str, str]:
    return {"name": name, "connector.class": "jdbc-sink", "topics": topic, "connection.url": target.url,
            "insert.mode": "upsert", "pk.mode": "record_key", "pk.fields": "id", "auto.create": "true",
            "key.converter": JSON_CONVERTER, "key.converter.schemas.enable": "true",
            "value.converter": JSON_CONVERTER, "value.converter.schemas.enable": "true"}


def run_sink(bootstrap: str, work: Path, run_id: str, data: SinkTopic, target: Target, stall_s: float,
             offset_flush_ms: int, extra: dict[str, str] | None = None) -> dict[str, Any]:
    """Apply the topic into the target and time it (see the module doc); ``extra``: more connector options."""
    table = data.topic
    config = sink_config(f"sink-{run_id}", data.topic, target) | (extra or {})
    proc = ConnectorProcess(work, bootstrap, config, offset_flush_ms)
    first_at: float | None = None
    applied_at_first = 0
    cpu_first: float | None = None
    proc.start()
    try:
        assert proc.launched_at is not None
        progress_at, last_count = time.monotonic(), -1
        while True:
            now = time.monotonic()
            if first_at is None:
                got = target.query(f'SELECT count(*) FROM "{table}"')
                if got and got[0][0]:
                    first_at, applied_at_first, cpu_first = now, int(got[0][0]), proc.cpu_seconds()
                    progress_at = now
            else:
                done = target.query(f'SELECT seq FROM "{table}" WHERE id = {SENTINEL}')
                if done:
                    break
            problem = proc.failure()
            if problem:
                raise SinkError(problem)
            if now - progress_at > stall_s:
                counted = target.query(f'SELECT count(*) FROM "{table}"')
                count = counted[0][0] if counted else 0
                if count == last_count:
                    raise SinkError(f"no progress for {stall_s:.0f}s ({count} rows in {table}): "
                                    f"{proc.log_tail()}")
                progress_at, last_count = now, count
            time.sleep(target.poll_s)
        done_at = time.monotonic()
        cpu_end = proc.cpu_seconds()
        rss = proc.rss_mib()
    finally:
        proc.stop()
    check = target.query(f'SELECT count(*), sum(seq) FROM "{table}"')
    rows, seq_sum = (int(check[0][0]), int(check[0][1] or 0)) if check else (0, 0)
    if (rows, seq_sum) != (data.rows, data.seq_sum):
        raise SinkError(f"{table} holds {rows} rows with seq sum {seq_sum}; "
                        f"expected {data.rows} and {data.seq_sum}")
    assert first_at is not None
    seconds = done_at - first_at
    measured = data.records - applied_at_first
    cpu = cpu_end - cpu_first if cpu_end is not None and cpu_first is not None else None
    return {"records": data.records, "rows": rows, "seconds": seconds,
            "rows_per_s": measured / seconds if seconds > 0 else None,
            "startup_s": first_at - proc.launched_at, "applied_before_clock": applied_at_first,
            "launch_to_done_s": done_at - proc.launched_at,
            "cpu_s": cpu, "cpu_s_per_1000": cpu * 1000 / measured if cpu is not None and measured else None,
            "connector_peak_rss_mib": rss}
