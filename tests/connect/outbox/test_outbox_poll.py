"""The polling outbox relay on real databases (SQLite files, a throwaway PostgreSQL, a throwaway MariaDB)
and a real broker: rows written with `streamlog.outbox.publish` come out in order with their key and
``id`` header, rows are removed only after the broker acknowledged them, rolled-back rows never appear,
and two relays do not publish the same row while both are alive."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.connect.outbox.outbox_support import PgDatabase
from tests.support.mariadb import MariaDbServer
from tests.support.streams_runtime import read_topic, wait_for

from streamlog.connect.api import ConnectError, SourceOffset, SourcePartition, SourceRecord
from streamlog.connect.runtime.config import Config
from streamlog.connect.runtime.states import State
from streamlog.connect.runtime.worker import Worker
from streamlog.connect.sources.outbox_poll import PLUGIN, OutboxPollTask
from streamlog.outbox import create_outbox_table, publish

STRING_CONVERTER = "org.apache.kafka.connect.storage.StringConverter"


class Database:
    """One outbox database of a dialect: a DB-API connection factory and the relay's settings."""

    def __init__(self, dialect: str, connect: Callable[[], Any], settings: dict[str, str]) -> None:
        self.dialect = dialect
        self.connect = connect
        self.settings = settings

    def rows(self, columns: str = "aggregateid") -> list[tuple[Any, ...]]:
        conn = self.connect()
        try:
            cursor = conn.cursor()
            cursor.execute(f"SELECT {columns} FROM outbox ORDER BY seq")
            found = [tuple(row) for row in cursor.fetchall()]
            cursor.close()
            return found
        finally:
            conn.close()


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        path = tmp_path / "app.db"
        yield Database("sqlite", lambda: sqlite3.connect(path),
                       {"database.dialect": "sqlite", "database.path": str(path)})
    elif request.param == "postgresql":
        pg: PgDatabase = request.getfixturevalue("pg")
        yield Database("postgresql", pg.connect, {"database.dialect": "postgresql", **pg.connection_options})
    else:
        server: MariaDbServer = request.getfixturevalue("mariadb")
        yield Database("mariadb", server.connect,
                       {**server.connection_options, "database.dialect": "mariadb"})


def setup_outbox(db: Database, *, with_published_at: bool = False) -> None:
    conn = db.connect()
    create_outbox_table(conn, with_published_at=with_published_at)
    conn.commit()
    conn.close()


def write_events(db: Database, events: list[tuple[str, str, dict[str, Any]]], *,
                 commit: bool = True) -> list[str]:
    """(aggregate type, aggregate id, payload) rows in one transaction; their event ids."""
    conn = db.connect()
    ids = [publish(conn, kind, key, "Happened", payload) for kind, key, payload in events]
    if commit:
        conn.commit()
    else:
        conn.rollback()
    conn.close()
    return ids


def relay_config(name: str, db: Database, prefix: str, **extra: str) -> dict[str, str]:
    return {"name": name, "connector.class": "outbox-poll", **db.settings,
            "route.topic.replacement": prefix + ".${routedByValue}", "poll.interval.ms": "50",
            "key.converter": STRING_CONVERTER, "value.converter": STRING_CONVERTER, **extra}


@pytest.fixture
def make_worker(streamlog_bootstrap: str) -> Iterator[Callable[..., Worker]]:
    workers: list[Worker] = []

    def make(flush_ms: int = 100) -> Worker:
        worker = Worker(streamlog_bootstrap, offset_flush_interval_ms=flush_ms)
        worker.start()
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.stop()


def wait_records(bootstrap: str, topic: str, count: int) -> list[Any]:
    return wait_for(lambda: (found if len(found := read_topic(bootstrap, topic)) >= count else None),
                    30, f"{count} records on {topic}")


def test_relay_publishes_in_order_and_deletes_after_ack(
        database: Database, make_worker: Callable[..., Worker], streamlog_bootstrap: str,
        streamlog_topic_factory: Callable[..., str]) -> None:
    prefix = f"ob{uuid.uuid4().hex[:8]}"
    orders = streamlog_topic_factory(name=f"{prefix}.order")
    customers = streamlog_topic_factory(name=f"{prefix}.customer")
    setup_outbox(database)
    committed = write_events(database, [("order", f"o{i % 3}", {"n": i}) for i in range(12)])
    write_events(database, [("order", "o9", {"n": 99})], commit=False)  # rolled back: never published
    committed += write_events(database, [("customer", "c1", {"n": 100})])
    worker = make_worker()
    worker.add_connector(relay_config("relay", database, prefix, **{"batch.size": "5"}))
    records = wait_records(streamlog_bootstrap, orders, 12)
    assert [json.loads(r.value) for r in records] == [{"n": i} for i in range(12)]
    assert [r.key for r in records] == [f"o{i % 3}".encode() for i in range(12)]
    assert [dict(r.headers)["id"] for r in records] == [i.encode() for i in committed[:12]]
    (customer,) = wait_records(streamlog_bootstrap, customers, 1)
    assert (customer.key, dict(customer.headers)["id"]) == (b"c1", committed[12].encode())
    wait_for(lambda: database.rows() == [], 30, "the published rows deleted")
    assert worker.status("relay").tasks[0].state is State.RUNNING
    later = write_events(database, [("order", "o1", {"n": 12})])
    (last,) = wait_records(streamlog_bootstrap, orders, 13)[12:]
    assert dict(last.headers)["id"] == later[0].encode()
    wait_for(lambda: database.rows() == [], 30, "the later row deleted")
    assert len(read_topic(streamlog_bootstrap, orders)) == 13  # nothing published twice


def test_rows_are_removed_once_acknowledged_without_waiting_for_the_flush_interval(
        database: Database, make_worker: Callable[..., Worker], streamlog_bootstrap: str,
        streamlog_topic_factory: Callable[..., str]) -> None:
    prefix = f"ob{uuid.uuid4().hex[:8]}"
    topic = streamlog_topic_factory(name=f"{prefix}.order")
    setup_outbox(database)
    write_events(database, [("order", "o1", {"n": i}) for i in range(4)])
    worker = make_worker(flush_ms=600_000)  # the timer would commit offsets only in 10 minutes
    worker.add_connector(relay_config("relay", database, prefix))
    wait_records(streamlog_bootstrap, topic, 4)
    # the relay asked for a commit after its claim: acknowledged and removed without the timer
    wait_for(lambda: database.rows() == [] or None, 30, "the published rows removed")
    write_events(database, [("order", "o2", {"n": 4})])
    wait_records(streamlog_bootstrap, topic, 5)
    wait_for(lambda: database.rows() == [] or None, 30, "the next row removed")
    worker.stop()


def test_mark_published_instead_of_deleting(
        database: Database, make_worker: Callable[..., Worker], streamlog_bootstrap: str,
        streamlog_topic_factory: Callable[..., str]) -> None:
    prefix = f"ob{uuid.uuid4().hex[:8]}"
    topic = streamlog_topic_factory(name=f"{prefix}.order")
    setup_outbox(database, with_published_at=True)
    write_events(database, [("order", "o1", {"n": i}) for i in range(3)])
    worker = make_worker()
    worker.add_connector(relay_config("relay", database, prefix, **{"delete.after.publish": "false"}))
    wait_records(streamlog_bootstrap, topic, 3)
    wait_for(lambda: all(row[0] is not None for row in database.rows("published_at")) or None, 30,
             "published_at set")
    assert len(database.rows()) == 3
    write_events(database, [("order", "o2", {"n": 3})])
    wait_records(streamlog_bootstrap, topic, 4)
    wait_for(lambda: all(row[0] is not None for row in database.rows("published_at")) or None, 30,
             "published_at set on the new row")
    assert [json.loads(r.value)["n"] for r in read_topic(streamlog_bootstrap, topic)] == [0, 1, 2, 3]


# -- the task driven directly: claims, locks, crashes ---------------------------------------------------

class RelayContext:
    """The part of the runner's context the relay uses: the stored offset, and commit requests."""

    def __init__(self, stored: SourceOffset | None = None) -> None:
        self.stored = stored
        self.requests = 0

    def offset(self, partition: SourcePartition) -> SourceOffset | None:
        return self.stored

    def request_commit(self) -> None:
        self.requests += 1


def task_for(db: Database, stored: SourceOffset | None = None, **extra: str) -> OutboxPollTask:
    raw = {"name": "relay", "connector.class": "outbox-poll", **db.settings, "poll.interval.ms": "10",
           **extra}
    task = OutboxPollTask(Config.of(raw, PLUGIN))
    task.start(RelayContext(stored))  # type: ignore[arg-type]
    return task


def test_a_restart_finishes_the_rows_of_the_stored_claim_instead_of_publishing_them_again(
        database: Database) -> None:
    """The relay stopped after the broker had a claim's records and offset, before removing the rows: the
    stored offset names them, so the next relay removes them and publishes only what comes after."""
    setup_outbox(database)
    written = write_events(database, [("order", f"o{i}", {"n": i}) for i in range(6)])
    first = task_for(database, **{"batch.size": "4"})
    claimed = list(first.poll(1))
    assert ids(claimed) == written[:4] and claimed[-1].source_offset["batch"] == [
        r.source_offset["seq"] for r in claimed]
    first.stop()  # no offsets_committed: the rows are still there
    assert len(database.rows()) == 6
    second = task_for(database, claimed[-1].source_offset, **{"batch.size": "4"})
    try:
        assert [r[0] for r in database.rows()] == ["o4", "o5"]  # finished at start
        rest = list(second.poll(1))
        assert ids(rest) == written[4:]
        acknowledge(second, rest)
        assert database.rows() == []
    finally:
        second.stop()


def acknowledge(task: OutboxPollTask, records: list[SourceRecord]) -> None:
    last = records[-1]
    task.offsets_committed({"p": (last.source_partition, last.source_offset)})


def ids(records: list[SourceRecord]) -> list[str]:
    return [str(dict(r.headers)["id"]) for r in records]


@pytest.mark.parametrize("database", ["postgresql", "mariadb"], indirect=True)
def test_two_relays_skip_each_others_claims_and_a_crash_releases_them(database: Database) -> None:
    setup_outbox(database)
    written = write_events(database, [("order", f"o{i}", {"n": i}) for i in range(30)])
    first, second = task_for(database, **{"batch.size": "10"}), task_for(database, **{"batch.size": "10"})
    try:
        a1 = list(first.poll(1))
        b1 = list(second.poll(1))
        a2 = list(first.poll(1))
        assert list(second.poll(0.2)) == []  # everything is claimed by a live relay
        assert ids(a1) == written[:10] and ids(b1) == written[10:20] and ids(a2) == written[20:]
        acknowledge(first, a1 + a2)
        assert [r[0] for r in database.rows("id")] == written[10:20]  # only the acknowledged rows went
        second._conn.close()  # the second relay dies before its records were acknowledged
        third = task_for(database, **{"batch.size": "10"})
        try:
            again = list(third.poll(1))
            assert ids(again) == written[10:20]  # published again: at least once
            acknowledge(third, again)
            assert database.rows() == []
        finally:
            third.stop()
    finally:
        first.stop()
        second._conn = None
        second.stop()


def test_partial_acknowledgement_pauses_claims_until_the_rest(tmp_path: Path, pg: PgDatabase) -> None:
    db = Database("postgresql", pg.connect, {"database.dialect": "postgresql", **pg.connection_options})
    setup_outbox(db)
    written = write_events(db, [("order", "o", {"n": i}) for i in range(6)])
    task = task_for(db, **{"batch.size": "3"})
    try:
        batch = list(task.poll(1))
        acknowledge(task, batch[:2])
        assert list(task.poll(0.1)) == []  # draining: one claimed row is not acknowledged yet
        assert len(db.rows()) == 6  # the deletes wait in the open claim transaction
        acknowledge(task, batch)
        assert [r[0] for r in db.rows("id")] == written[3:]
        assert ids(list(task.poll(1))) == written[3:]
    finally:
        task.stop()


def test_claim_max_rows_bounds_what_is_in_flight(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    db = Database("sqlite", lambda: sqlite3.connect(path),
                  {"database.dialect": "sqlite", "database.path": str(path)})
    setup_outbox(db)
    written = write_events(db, [("order", "o", {"n": i}) for i in range(5)])
    task = task_for(db, **{"batch.size": "2", "claim.max.rows": "3"})
    try:
        first = list(task.poll(1)) + list(task.poll(1))
        assert ids(first) == written[:3]
        assert list(task.poll(0.1)) == []
        acknowledge(task, first)
        assert ids(list(task.poll(1))) == written[3:5]
    finally:
        task.stop()


def test_config_and_table_errors(tmp_path: Path) -> None:
    with pytest.raises(ConnectError, match=r"database\.url"):
        PLUGIN.validate(Config.of({"name": "r", "connector.class": "outbox-poll"}, PLUGIN))
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE outbox (seq INTEGER PRIMARY KEY, id TEXT)")
    db = Database("sqlite", lambda: sqlite3.connect(path), {"database.url": f"sqlite:///{path}"})
    with pytest.raises(ConnectError, match="aggregatetype, payload"):
        task_for(db)
    with pytest.raises(ConnectError, match="cannot read the outbox table"):
        task_for(db, **{"table.name": "nope"})


@pytest.mark.crash
def test_broker_outage_leaves_the_rows_and_a_restart_publishes_them(tmp_path: Path) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic
    from tests.support.brokerproc import BrokerProcess

    path = tmp_path / "app.db"
    db = Database("sqlite", lambda: sqlite3.connect(path),
                  {"database.dialect": "sqlite", "database.path": str(path)})
    setup_outbox(db)
    with BrokerProcess(data_dir=tmp_path / "broker") as broker:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        admin.create_topics([NewTopic("ob.order", 1)])["ob.order"].result(10)
        worker = Worker(broker.bootstrap, offset_flush_interval_ms=200)
        worker.start()
        try:
            worker.add_connector(relay_config("relay", db, "ob", **{
                "producer.override.message.timeout.ms": "2000",
                "producer.override.retry.backoff.max.ms": "200"}))
            first = write_events(db, [("order", "o1", {"n": i}) for i in range(3)])
            wait_records(broker.bootstrap, "ob.order", 3)
            wait_for(lambda: db.rows() == [], 30, "the first rows deleted")
            broker.kill()
            second = write_events(db, [("order", "o1", {"n": i}) for i in range(3, 6)])
            wait_for(lambda: worker.status("relay").tasks[0].state is State.FAILED, 30,
                     "the relay failing on undelivered records")
            assert [row[0] for row in db.rows("id")] == second  # never acknowledged: still there
            broker.start()
            worker.restart("relay", include_tasks=True)
            wait_for(lambda: db.rows() == [], 30, "the second rows published and deleted")
            published = [dict(r.headers)["id"].decode() for r in read_topic(broker.bootstrap, "ob.order")]
            assert published[:3] == first and set(second) <= set(published[3:])
        finally:
            worker.stop()


def test_exactly_once_mode_finishes_rows_after_each_transaction(
        pg: PgDatabase, make_worker: Callable[..., Worker], streamlog_bootstrap: str,
        streamlog_topic_factory: Callable[..., str]) -> None:
    db = Database("postgresql", pg.connect, {"database.dialect": "postgresql", **pg.connection_options})
    prefix = f"ob{uuid.uuid4().hex[:8]}"
    topic = streamlog_topic_factory(name=f"{prefix}.order")
    setup_outbox(db)
    written = write_events(db, [("order", f"o{i % 2}", {"n": i}) for i in range(7)])
    worker = make_worker(flush_ms=600_000)  # under exactly-once the commit follows each poll, not the timer
    worker.add_connector(relay_config("relay", db, prefix, **{"exactly.once.support": "required",
                                                               "batch.size": "3"}))
    records = wait_records(streamlog_bootstrap, topic, 7)
    assert [dict(r.headers)["id"].decode() for r in records] == written
    wait_for(lambda: db.rows() == [], 30, "rows deleted after each committed transaction")


@pytest.mark.parametrize("database", ["postgresql", "mariadb"], indirect=True)
def test_two_live_relays_publish_each_row_once(
        database: Database, make_worker: Callable[..., Worker], streamlog_bootstrap: str,
        streamlog_topic_factory: Callable[..., str]) -> None:
    prefix = f"ob{uuid.uuid4().hex[:8]}"
    topic = streamlog_topic_factory(name=f"{prefix}.order", partitions=3)
    setup_outbox(database)
    first, second = make_worker(), make_worker()
    first.add_connector(relay_config("relay-a", database, prefix, **{"batch.size": "7"}))
    second.add_connector(relay_config("relay-b", database, prefix, **{"batch.size": "7"}))
    written: list[str] = []
    for start in range(0, 150, 10):
        batch = [("order", f"o{i % 5}", {"n": i}) for i in range(start, start + 10)]
        written += write_events(database, batch)
        time.sleep(0.02)
    records = wait_records(streamlog_bootstrap, topic, 150)
    wait_for(lambda: database.rows() == [], 30, "every row deleted")
    time.sleep(0.5)  # a late duplicate would show up by now
    published = [dict(r.headers)["id"].decode() for r in read_topic(streamlog_bootstrap, topic)]
    assert sorted(published) == sorted(written)  # each row once: neither relay took the other's claims
    by_key: dict[bytes, list[int]] = {}
    for record in records:
        by_key.setdefault(record.key, []).append(json.loads(record.value)["n"])
    assert set(by_key) == {f"o{i}".encode() for i in range(5)}
