"""Kill -9 the Postgres CDC connector (``streamlog connect run`` in a child process) at random moments during
its snapshot and its streaming while a writer keeps committing changes, and separately kill the broker.

Every change is an increment of one row's counter (or an insert at 0), so per key the values a consumer
sees must be consecutive.  With ``exactly.once.support=required`` a read_committed consumer must see each
key as one snapshot read (or create) followed by every increment once, in commit order; with it off,
nothing may be missing after the last read of a key and the last value must be the database's.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from confluent_kafka import Consumer
from tests.support.pgcluster import PgCluster, pg_cluster
from tests.support.streams_process import ChildApp, broker_on_data_dir

ROWS = 1500
TOPIC = "kill.public.counters"


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    with pg_cluster() as pg:
        pg.sql("CREATE TABLE counters (id int PRIMARY KEY, v int NOT NULL)")
        pg.sql(f"INSERT INTO counters SELECT i, 0 FROM generate_series(1, {ROWS}) i")
        yield pg


class Writer(threading.Thread):
    """Commits small transactions: increments of random rows, now and then a new row."""

    def __init__(self, cluster: PgCluster, seed: int) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.rng = random.Random(seed)
        self.halt = threading.Event()
        self.next_id = ROWS + 1
        self.commits = 0

    def run(self) -> None:
        conn = psycopg2.connect(self.cluster.dsn)
        try:
            while not self.halt.is_set():
                with conn.cursor() as cur:
                    for _ in range(self.rng.randint(1, 3)):
                        if self.rng.random() < 0.1:
                            cur.execute("INSERT INTO counters VALUES (%s, 0)", (self.next_id,))
                            self.next_id += 1
                        else:
                            cur.execute("UPDATE counters SET v = v + 1 WHERE id = %s",
                                        (self.rng.randint(1, self.next_id - 1),))
                conn.commit()
                self.commits += 1
                time.sleep(0.005)
        finally:
            conn.close()


def _connector(tmp_path: Path, cluster: PgCluster, bootstrap: str, exactly_once: bool) -> ChildApp:
    config = {"name": "kill", "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
              "topic.prefix": "kill", **cluster.connection_options, "table.include.list": "public.counters",
              "max.batch.size": "10", "snapshot.fetch.size": "50", "poll.interval.ms": "100",
              "exactly.once.support": "required" if exactly_once else "requested"}
    path = tmp_path / "cdc.json"
    path.write_text(json.dumps(config))
    return ChildApp("streamlog", ["connect", "run", str(path), "--bootstrap", bootstrap, "--no-rest",
                                  "--offset-flush-interval-ms", "300", "--log-level", "INFO"],
                    tmp_path / "connect.log")


def _start_and_wait(app: ChildApp, marker: str = "postgres-cdc kill: slot", timeout: float = 30.0) -> None:
    """Start the connector and wait for a line of its log: the task started (default), or streaming."""
    app.start()
    deadline = time.monotonic() + timeout
    while marker not in app.log_since_start():
        assert time.monotonic() < deadline, app.log_since_start()[-3000:]
        assert app.proc is not None and app.proc.poll() is None, app.log_since_start()[-3000:]
        time.sleep(0.02)


def _final_values(cluster: PgCluster) -> dict[int, int]:
    return {int(k): int(v) for k, v in cluster.sql("SELECT id, v FROM counters")}


def _read_until(bootstrap: str, expected: dict[int, int], timeout: float,
                read_committed: bool) -> dict[int, list[tuple[str, int | None]]]:
    """Per key, (op, v) of every record in offset order, once every key shows its final value."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{time.monotonic_ns()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "isolation.level": "read_committed" if read_committed else "read_uncommitted"})
    consumer.subscribe([TOPIC])
    seen: dict[int, list[tuple[str, int | None]]] = defaultdict(list)
    latest: dict[int, int | None] = {}
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for message in consumer.consume(500, 0.5):
                if message.error() or message.value() is None:
                    continue
                key = json.loads(message.key())["payload"]["id"]
                payload: dict[str, Any] = json.loads(message.value())["payload"]
                after = payload["after"]
                value = None if after is None else int(after["v"])
                seen[key].append((payload["op"], value))
                latest[key] = value
            if all(latest.get(k) == v for k, v in expected.items()):
                return seen
    finally:
        consumer.close()
    missing = {k: (latest.get(k), v) for k, v in expected.items() if latest.get(k) != v}
    raise AssertionError(f"{len(missing)} keys not at their final value: {list(missing.items())[:10]}")


def _check_exactly_once(seen: dict[int, list[tuple[str, int | None]]]) -> None:
    for key, events in seen.items():
        first_op, first_value = events[0]
        assert first_op in ("r", "c"), (key, events[:5])
        assert [op for op, _ in events[1:]] == ["u"] * (len(events) - 1), (key, events)
        values = [v for _, v in events]
        assert first_value is not None
        assert values == list(range(first_value, first_value + len(values))), (key, events)


def _check_nothing_lost(seen: dict[int, list[tuple[str, int | None]]]) -> None:
    for key, events in seen.items():
        last_read = max(i for i, (op, _) in enumerate(events) if op in ("r", "c"))
        values = sorted({v for _, v in events[last_read:] if v is not None})
        assert values == list(range(values[0], values[-1] + 1)), (key, events)


@pytest.mark.parametrize("exactly_once", [True, False], ids=["exactly-once", "at-least-once"])
def test_connector_killed_during_snapshot_and_streaming(tmp_path: Path, cluster: PgCluster,
                                                        exactly_once: bool) -> None:
    rng = random.Random(1919 + exactly_once)
    with broker_on_data_dir(tmp_path) as broker:
        app = _connector(tmp_path, cluster, broker.bootstrap, exactly_once)
        writer = Writer(cluster, rng.randint(0, 1 << 30))
        writer.start()
        try:
            # two kills inside the snapshot (1500 rows, 10 per poll), two while streaming
            for marker in ("kill: slot", "kill: slot", "streaming from slot", "streaming from slot"):
                _start_and_wait(app, marker)
                time.sleep(rng.uniform(0.2, 0.6) if marker == "kill: slot" else rng.uniform(0.2, 1.5))
                app.kill()
            _start_and_wait(app)
            time.sleep(2.0)
        finally:
            writer.halt.set()
            writer.join(10)
        try:
            expected = _final_values(cluster)
            seen = _read_until(broker.bootstrap, expected, 45, read_committed=exactly_once)
        except AssertionError:
            print(app.log_text()[-6000:])
            raise
        finally:
            app.kill()
        assert writer.commits > 100
        assert set(seen) == set(expected)
        if exactly_once:
            _check_exactly_once(seen)
        else:
            _check_nothing_lost(seen)
        if exactly_once:  # (at-least-once stores offsets every 300 ms: a kill may come before any)
            log = app.log_text()
            assert "'snapshot_completed': False" in log  # a restart did resume an interrupted snapshot
            assert "'snapshot_completed': True" in log  # and one resumed streaming


def _slot_lsn(cluster: PgCluster) -> str:
    rows = cluster.sql("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = "
                       "'debezium'")
    return str(rows[0][0]) if rows else ""


def test_broker_killed_and_restarted(tmp_path: Path, cluster: PgCluster) -> None:
    with broker_on_data_dir(tmp_path) as broker:
        app = _connector(tmp_path, cluster, broker.bootstrap, exactly_once=True)
        writer = Writer(cluster, 7)
        writer.start()
        try:
            _start_and_wait(app)
            time.sleep(3.0)
            broker.kill()
            time.sleep(1.0)  # a commit in flight when the broker died may still confirm its LSN
            held = _slot_lsn(cluster)
            time.sleep(2.0)
            assert _slot_lsn(cluster) == held  # nothing acknowledged: the slot does not move
            broker.start()
            time.sleep(3.0)
        finally:
            writer.halt.set()
            writer.join(10)
        try:
            seen = _read_until(broker.bootstrap, _final_values(cluster), 45, read_committed=True)
        except AssertionError:
            print(app.log_text()[-6000:])
            raise
        finally:
            app.kill()
        _check_exactly_once(seen)
        assert _slot_lsn(cluster) != held
