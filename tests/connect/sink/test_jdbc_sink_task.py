"""The JDBC sink task against real databases (a SQLite file and a throwaway PostgreSQL), driven as the
runner drives it: start → open → put ... → stop, with hand-built SinkRecords."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from tests.connect.sink.conftest import (
    FakeConfig,
    FakeContext,
    Target,
    TaskFactory,
    postgres_target,
    record,
    tp,
)
from tests.support.pgcluster import PgCluster, free_port

from streamlog.connect.api import ConnectError, SinkRecord
from streamlog.connect.data import (
    INT32,
    INT64,
    OPTIONAL_INT32,
    OPTIONAL_STRING,
    STRING,
    Schema,
    Type,
    decimal_schema,
    struct,
)
from streamlog.connect.sinks.jdbc import PLUGIN, JdbcSinkTask
from streamlog.connect.sinks.jdbc_dialects import TableRef

KEY = struct("k", [("id", INT32)])
TIMESTAMP = Schema(Type.INT64, name="org.apache.kafka.connect.data.Timestamp", version=1)
VALUE = struct("v", [("id", INT32), ("name", STRING), ("amount", decimal_schema(2, optional=True)),
                     ("at", TIMESTAMP.as_optional())])
V1 = struct("v", [("id", INT32), ("name", STRING)])
V2 = struct("v", [("id", INT32), ("name", STRING), ("email", OPTIONAL_STRING)])


def order(offset: int, key: int, name: str | None, amount: str = "1.50", at_ms: int = 0,
          topic: str = "orders") -> SinkRecord:
    if name is None:
        return record(topic, offset, {"id": key}, None, key_schema=KEY)
    value = {"id": key, "name": name, "amount": Decimal(amount), "at": at_ms}
    return record(topic, offset, {"id": key}, value, key_schema=KEY, value_schema=VALUE)


def offsets_rows(target: Target) -> list[tuple[object, ...]]:
    return target.query('SELECT "connector", "topic", "partition", "next_offset" '
                        'FROM __streamlog_sink_offsets ORDER BY 2, 3')


def test_upsert_by_key_and_delete_on_tombstone(target: Target, make_task: TaskFactory) -> None:
    task = make_task(insert_mode="upsert", pk_mode="record_key", delete_enabled="true", auto_create="true")
    assert task.open([tp("orders")]) == {}
    task.put([order(0, 1, "ann", "10.25", 1_700_000_000_123), order(1, 2, "bob"),
              order(2, 1, "ann2", "-3.00"), order(3, 2, None), order(4, 3, "cy")])
    rows = target.query('SELECT "id", "name", "amount", "at" FROM orders ORDER BY "id"')
    assert [(r[0], r[1]) for r in rows] == [(1, "ann2"), (3, "cy")]
    assert Decimal(str(rows[0][2])) == Decimal("-3.00")
    first = target.query('SELECT "at" FROM orders WHERE "id" = 3')[0][0]
    assert str(first).startswith("1970-01-01 00:00:00")
    task.put([order(5, 3, "cy", at_ms=1_700_000_000_123)])
    stamp = target.query('SELECT "at" FROM orders WHERE "id" = 3')[0][0]
    expected = dt.datetime(2023, 11, 14, 22, 13, 20, 123000)
    assert (stamp if isinstance(stamp, dt.datetime) else dt.datetime.fromisoformat(str(stamp))) == expected
    assert offsets_rows(target) == [("projection", "orders", 0, 6)]


def test_insert_mode_duplicate_key_fails_and_applies_nothing(target: Target, make_task: TaskFactory) -> None:
    task = make_task(pk_mode="record_key", auto_create="true")
    task.put([order(0, 1, "a")])
    with pytest.raises(ConnectError, match=r"(?i)unique|duplicate"):
        task.put([order(1, 2, "b"), order(2, 1, "again")])
    assert target.query('SELECT "id" FROM orders ORDER BY 1') == [(1,)]
    assert offsets_rows(target) == [("projection", "orders", 0, 1)]


def test_update_mode_changes_existing_rows_only(target: Target, make_task: TaskFactory) -> None:
    make_task(pk_mode="record_key", auto_create="true").put([order(0, 1, "a"), order(1, 2, "b")])
    task = make_task(insert_mode="update", pk_mode="record_key", name="other")
    task.put([order(0, 1, "a2"), order(1, 9, "nobody")])
    assert target.query('SELECT "id", "name" FROM orders ORDER BY 1') == [(1, "a2"), (2, "b")]


def test_pk_mode_kafka_writes_the_coordinates(target: Target, make_task: TaskFactory) -> None:
    task = make_task(pk_mode="kafka", auto_create="true")
    task.put([record("clicks", 7, None, {"id": 1, "name": "x"}, value_schema=V1, partition=2),
              record("clicks", 8, None, {"id": 1, "name": "y"}, value_schema=V1, partition=2)])
    rows = target.query('SELECT "__connect_topic", "__connect_partition", "__connect_offset", "name" '
                        'FROM clicks ORDER BY 3')
    assert rows == [("clicks", 2, 7, "x"), ("clicks", 2, 8, "y")]
    with pytest.raises(ConnectError, match=r"(?i)unique|duplicate"):
        make_task(pk_mode="kafka", name="again").put(
            [record("clicks", 7, None, {"id": 1, "name": "x"}, value_schema=V1, partition=2)])


def test_pk_mode_record_value_with_pk_fields_and_field_filter(target: Target, make_task: TaskFactory) -> None:
    value = struct("v", [("sku", STRING), ("store", INT32), ("qty", INT64), ("secret", OPTIONAL_STRING)])
    task = make_task(pk_mode="record_value", pk_fields="sku,store", insert_mode="upsert", auto_create="true",
                     fields_whitelist="qty")
    rows = [(1, 5), (1, 7), (2, 1)]
    task.put([record("stock", i, None, {"sku": "a", "store": store, "qty": qty, "secret": "s"},
                     value_schema=value) for i, (store, qty) in enumerate(rows)])
    assert target.query('SELECT "sku", "store", "qty" FROM stock ORDER BY 2') == [("a", 1, 7), ("a", 2, 1)]
    columns = {r[0] for r in _columns(target, "stock")}
    assert columns == {"sku", "store", "qty"}


def test_pk_mode_none_appends_every_record(target: Target, make_task: TaskFactory) -> None:
    task = make_task(auto_create="true")
    task.put([record("log", i, None, {"id": 1, "name": f"n{i}"}, value_schema=V1) for i in range(5)])
    assert target.query("SELECT count(*) FROM log") == [(5,)]


def test_primitive_key_is_one_column_named_by_pk_fields(target: Target, make_task: TaskFactory) -> None:
    task = make_task(pk_mode="record_key", pk_fields="user_id", insert_mode="upsert", auto_create="true",
                     delete_enabled="true")
    value = struct("v", [("score", INT32)])
    task.put([record("scores", 0, 42, {"score": 1}, key_schema=INT64, value_schema=value),
              record("scores", 1, 42, {"score": 5}, key_schema=INT64, value_schema=value),
              record("scores", 2, 7, {"score": 2}, key_schema=INT64, value_schema=value),
              record("scores", 3, 7, None, key_schema=INT64)])
    assert target.query('SELECT "user_id", "score" FROM scores') == [(42, 5)]


def test_auto_evolve_adds_optional_columns_and_never_drops(target: Target, make_task: TaskFactory) -> None:
    task = make_task(pk_mode="record_key", insert_mode="upsert", auto_create="true", auto_evolve="true")
    task.put([record("users", 0, {"id": 1}, {"id": 1, "name": "a"}, key_schema=KEY, value_schema=V1)])
    task.put([record("users", 1, {"id": 2}, {"id": 2, "name": "b", "email": "b@x"}, key_schema=KEY,
                     value_schema=V2),
              record("users", 2, {"id": 3}, {"id": 3, "name": "c"}, key_schema=KEY, value_schema=V1)])
    assert [r[0] for r in _columns(target, "users")] == ["id", "name", "email"]
    assert target.query('SELECT "id", "name", "email" FROM users ORDER BY 1') == [
        (1, "a", None), (2, "b", "b@x"), (3, "c", None)]
    required = struct("v", [("id", INT32), ("name", STRING), ("tier", INT32)])
    with pytest.raises(ConnectError, match="not optional and has no default"):
        task.put([record("users", 3, {"id": 4}, {"id": 4, "name": "d", "tier": 1}, key_schema=KEY,
                         value_schema=required)])
    defaulted = struct("v", [("id", INT32), ("name", STRING), ("tier", Schema(Type.INT32, default=5))])
    task.put([record("users", 3, {"id": 4}, {"id": 4, "name": "d", "tier": 1}, key_schema=KEY,
                     value_schema=defaulted)])
    assert target.query('SELECT "id", "tier" FROM users ORDER BY 1') == [(1, 5), (2, 5), (3, 5), (4, 1)]


def test_without_auto_create_or_evolve_the_errors_say_what_to_set(target: Target,
                                                                  make_task: TaskFactory) -> None:
    task = make_task(pk_mode="record_key", insert_mode="upsert")
    with pytest.raises(ConnectError, match=r"auto\.create=true"):
        task.put([record("users", 0, {"id": 1}, {"id": 1, "name": "a"}, key_schema=KEY, value_schema=V1)])
    target.execute('CREATE TABLE users ("id" INTEGER PRIMARY KEY, "name" TEXT)')
    task.put([record("users", 0, {"id": 1}, {"id": 1, "name": "a"}, key_schema=KEY, value_schema=V1)])
    with pytest.raises(ConnectError, match=r"auto.evolve=true.*|.*\['email'\].*auto.evolve"):
        task.put([record("users", 1, {"id": 2}, {"id": 2, "name": "b", "email": "e"}, key_schema=KEY,
                         value_schema=V2)])
    assert target.query('SELECT "id" FROM users') == [(1,)]


def test_a_replay_applies_nothing_twice_and_open_resumes_after_it(target: Target,
                                                                  make_task: TaskFactory) -> None:
    task = make_task(auto_create="true", batch_size="4")  # pk.mode=none, insert: a duplicate is a second row
    batch = [record("events", i, None, {"id": i, "name": f"e{i}"}, value_schema=V1) for i in range(10)]
    task.put(batch)
    task.put(batch)  # the whole topic again (a consumer group reset, a rebalance's replay)
    task.put([*batch[5:], *(record("events", i, None, {"id": i, "name": f"e{i}"}, value_schema=V1)
                            for i in range(10, 15))])
    assert target.query('SELECT "id" FROM events ORDER BY 1') == [(i,) for i in range(15)]
    fresh = make_task(auto_create="true")
    assert fresh.open([tp("events"), tp("events", 1), tp("other")]) == {tp("events"): 15}


def test_a_failure_mid_batch_rolls_back_its_rows_and_offsets(target: Target, make_task: TaskFactory) -> None:
    """Batches of 3; record 4 makes the database fail (a trigger): batches 0-2 stay, 3-5 leaves nothing.  A
    new task resumes at 3; after the fault is removed every record is in the table exactly once."""
    target.execute('CREATE TABLE events ("id" INTEGER NOT NULL, "name" TEXT NOT NULL)')
    _fail_on_insert(target, "events", "boom")
    task = make_task(batch_size="3")
    batch = [record("events", i, None, {"id": i, "name": "boom" if i == 4 else f"e{i}"}, value_schema=V1)
             for i in range(10)]
    with pytest.raises(ConnectError, match="boom"):
        task.put(batch)
    assert target.query('SELECT "id" FROM events ORDER BY 1') == [(0,), (1,), (2,)]
    assert offsets_rows(target) == [("projection", "events", 0, 3)]
    _drop_fault(target, "events")
    restarted = make_task()
    resume = restarted.open([tp("events")])
    assert resume == {tp("events"): 3}
    restarted.put(batch[3:])
    restarted.put(batch)  # and a full replay on top: still once each
    assert target.query('SELECT "id" FROM events ORDER BY 1') == [(i,) for i in range(10)]
    assert offsets_rows(target) == [("projection", "events", 0, 10)]


def test_partitions_and_topics_keep_their_own_offsets(target: Target, make_task: TaskFactory) -> None:
    task = make_task(auto_create="true", table_name_format="all_${topic}")
    task.put([record("a", 3, None, {"id": 1, "name": "x"}, value_schema=V1, partition=0),
              record("a", 9, None, {"id": 2, "name": "y"}, value_schema=V1, partition=1),
              record("b", 0, None, {"id": 3, "name": "z"}, value_schema=V1, partition=0)])
    assert offsets_rows(target) == [("projection", "a", 0, 4), ("projection", "a", 1, 10),
                                    ("projection", "b", 0, 1)]
    assert target.query("SELECT count(*) FROM all_a") == [(2,)]
    assert target.query("SELECT count(*) FROM all_b") == [(1,)]


def test_schemaless_json_objects_get_inferred_columns(target: Target, make_task: TaskFactory) -> None:
    task = make_task(pk_mode="record_key", insert_mode="upsert", auto_create="true", auto_evolve="true",
                     delete_enabled="true")
    task.put([record("docs", 0, {"id": "a"}, {"id": "a", "n": 3, "ok": True, "ratio": 0.5, "tags": ["x"]}),
              record("docs", 1, {"id": "b"}, {"id": "b", "n": 4, "ok": False, "ratio": 1.5, "tags": [],
                                              "extra": "new"}),
              record("docs", 2, {"id": "c"}, {"id": "c", "n": 1}),
              record("docs", 3, {"id": "c"}, None)])
    rows = target.query('SELECT "id", "n", "ok", "ratio", "extra" FROM docs ORDER BY 1')
    assert [(r[0], r[1], bool(r[2]), r[3], r[4]) for r in rows] == [("a", 3, True, 0.5, None),
                                                                    ("b", 4, False, 1.5, "new")]


def test_tombstones_without_delete_enabled(target: Target, make_task: TaskFactory) -> None:
    confluent = make_task(pk_mode="record_key", insert_mode="upsert", auto_create="true")
    confluent.put([order(0, 1, "a")])
    with pytest.raises(ConnectError, match=r"delete\.enabled=true"):
        confluent.put([order(1, 1, None)])
    debezium = make_task(**{"connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector"},
                         primary_key_mode="record_key", insert_mode="upsert", name="dbz")
    debezium.put([order(1, 1, None, topic="orders")])  # skipped, as Debezium's sink does
    assert target.query('SELECT "id" FROM orders') == [(1,)]


def test_debezium_naming_and_envelopes_are_not_unwrapped(target: Target, make_task: TaskFactory) -> None:
    task = make_task(**{"connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector"},
                     primary_key_mode="record_key", insert_mode="upsert", schema_evolution="basic")
    task.put([record("inventory.public.items", 0, {"id": 1}, {"id": 1, "name": "a"}, key_schema=KEY,
                     value_schema=V1)])
    assert target.query('SELECT "id", "name" FROM inventory_public_items') == [(1, "a")]
    envelope = struct("env", [("before", V1.as_optional()), ("after", V1.as_optional()), ("op", STRING)])
    with pytest.raises(ConnectError, match="envelope is not unwrapped"):
        change = {"before": None, "after": {"id": 1, "name": "b"}, "op": "u"}
        task.put([record("inventory.public.items", 1, {"id": 1}, change, key_schema=KEY,
                         value_schema=envelope)])


def test_unquoted_identifiers_fold_on_postgres(target: Target, make_task: TaskFactory) -> None:
    task = make_task(pk_mode="record_key", insert_mode="upsert", auto_create="true", auto_evolve="true",
                     quote_sql_identifiers="never", table_name_format="Users_${topic}")
    value = struct("v", [("Id", INT32), ("FullName", OPTIONAL_STRING)])
    key = struct("k", [("Id", INT32)])
    task.put([record("t", 0, {"Id": 1}, {"Id": 1, "FullName": "a"}, key_schema=key, value_schema=value)])
    task.put([record("t", 1, {"Id": 1}, {"Id": 1, "FullName": "b"}, key_schema=key, value_schema=value)])
    table = "users_t" if target.kind == "postgres" else "Users_t"
    assert target.query(f"SELECT id, fullname FROM {table}") == [(1, "b")]


def test_postgres_restart_is_retried_on_a_new_connection(pg_server: PgCluster) -> None:
    target = postgres_target(pg_server)
    config = FakeConfig({"name": "r", "connector.class": "jdbc-sink", "connection.url": target.url,
                         "auto.create": "true", "retry.backoff.ms": "200", "max.retries": "20"})
    task = PLUGIN.task_factory(config)
    assert isinstance(task, JdbcSinkTask)
    task.start(FakeContext(config))
    try:
        task.put([record("r", 0, None, {"id": 0, "name": "a"}, value_schema=V1)])
        postmaster = int((pg_server.data_dir / "postmaster.pid").read_text().split()[0])
        pg_server.sql("CHECKPOINT")  # the test cluster runs with synchronous_commit=off: make row 0 durable
        pg_server.kill()
        _wait_gone(postmaster)  # kill() waits for runuser only; the postmaster may still be exiting
        pg_server.start()
        task.put([record("r", 1, None, {"id": 1, "name": "b"}, value_schema=V1)])
    finally:
        task.stop()
    assert target.query('SELECT "id" FROM r ORDER BY 1') == [(0,), (1,)]
    assert target.query('SELECT "next_offset" FROM __streamlog_sink_offsets') == [(2,)]


def test_two_connectors_share_the_offsets_table(target: Target, make_task: TaskFactory) -> None:
    make_task(auto_create="true", name="one").put(
        [record("s", 0, None, {"id": 0, "name": "a"}, value_schema=V1)])
    make_task(auto_create="true", name="two", table_name_format="copy_${topic}").put(
        [record("s", 0, None, {"id": 0, "name": "a"}, value_schema=V1)])
    assert sorted(offsets_rows(target)) == [("one", "s", 0, 1), ("two", "s", 0, 1)]


def test_a_custom_offsets_table(target: Target) -> None:
    config = FakeConfig({"name": "c", "connector.class": "jdbc-sink", "connection.url": target.url,
                         "auto.create": "true", "offsets.table.name": "my_offsets"})
    task = PLUGIN.task_factory(config)
    assert isinstance(task, JdbcSinkTask)
    task.start(FakeContext(config))
    try:
        task.put([record("s", 4, None, {"id": 0, "name": "a"}, value_schema=V1)])
        assert target.query('SELECT "connector", "next_offset" FROM my_offsets') == [("c", 5)]
    finally:
        task.stop()


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 20
    status = Path(f"/proc/{pid}/status")
    while time.monotonic() < deadline:
        try:
            if "State:\tZ" in status.read_text():
                time.sleep(0.05)
                continue
        except OSError:
            return
        time.sleep(0.05)
    raise AssertionError(f"postmaster {pid} still running")


def _columns(target: Target, table: str) -> list[tuple[object, ...]]:
    if target.kind == "sqlite":
        return [(r[1],) for r in target.query(f"PRAGMA table_info({table})")]
    return target.query(f"SELECT column_name FROM information_schema.columns WHERE table_name = '{table}' "
                        "ORDER BY ordinal_position")


def _fail_on_insert(target: Target, table: str, marker: str) -> None:
    if target.kind == "sqlite":
        target.execute(f"CREATE TRIGGER fault BEFORE INSERT ON {table} WHEN NEW.name = '{marker}' "
                       f"BEGIN SELECT RAISE(ABORT, '{marker}'); END;")
    else:
        target.execute(f"CREATE FUNCTION fault() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                       f"IF NEW.name = '{marker}' THEN RAISE EXCEPTION '{marker}'; END IF; "
                       "RETURN NEW; END $$;")
        target.execute(f"CREATE TRIGGER fault BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION fault()")


def _drop_fault(target: Target, table: str) -> None:
    target.execute("DROP TRIGGER fault" if target.kind == "sqlite" else f"DROP TRIGGER fault ON {table}")


_ = OPTIONAL_INT32


def test_a_zombie_task_waits_for_the_row_lock_then_skips_what_was_applied(pg_server: PgCluster) -> None:
    """Two tasks of one connector hold the same partition (a zombie after a rebalance): the second one's
    transaction waits on the offsets row the first one locked, then sees its offsets and applies nothing."""
    target = postgres_target(pg_server)
    config = FakeConfig({"name": "z", "connector.class": "jdbc-sink", "connection.url": target.url,
                         "auto.create": "true"})
    first, zombie = (PLUGIN.task_factory(config) for _ in range(2))
    assert isinstance(first, JdbcSinkTask) and isinstance(zombie, JdbcSinkTask)
    first.start(FakeContext(config))
    zombie.start(FakeContext(config))
    batch = [record("z", i, None, {"id": i, "name": "x"}, value_schema=V1) for i in range(5)]
    try:
        first.put(batch[:1])  # creates the table and the offsets row
        db = first.db
        db.begin()
        db.read_offsets(TableRef(None, "__streamlog_sink_offsets"), "z", {("z", 0)}, lock=True)
        outcome: list[BaseException | None] = []
        thread = threading.Thread(target=lambda: _capture(outcome, lambda: zombie.put(batch)))
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive()  # waiting for the lock
        db.execute_many('INSERT INTO z ("id", "name") VALUES (%s, %s)', [(i, "x") for i in range(1, 5)])
        db.write_offsets(TableRef(None, "__streamlog_sink_offsets"), "z", {("z", 0): 5})
        db.commit()
        thread.join(10)
        assert outcome == [None]
    finally:
        first.stop()
        zombie.stop()
    assert target.query('SELECT "id" FROM z ORDER BY 1') == [(i,) for i in range(5)]


def _capture(outcome: list[BaseException | None], action: Callable[[], None]) -> None:
    try:
        action()
        outcome.append(None)
    except BaseException as exc:
        outcome.append(exc)


def test_a_table_created_by_another_task_meanwhile_is_retried(pg_server: PgCluster) -> None:
    """tasks.max > 1: two tasks create the same table at once.  The loser's CREATE TABLE fails when the
    winner commits; its transaction is retried and finds the table."""
    target = postgres_target(pg_server)
    config = FakeConfig({"name": "race", "connector.class": "jdbc-sink", "connection.url": target.url,
                         "auto.create": "true", "retry.backoff.ms": "100"})
    winner, loser = (PLUGIN.task_factory(config) for _ in range(2))
    assert isinstance(winner, JdbcSinkTask) and isinstance(loser, JdbcSinkTask)
    winner.start(FakeContext(config))
    loser.start(FakeContext(config))
    try:
        db = winner.db
        db.begin()
        db.execute('CREATE TABLE "s" ("id" INTEGER NOT NULL, "name" TEXT NOT NULL)')
        outcome: list[BaseException | None] = []
        thread = threading.Thread(target=lambda: _capture(outcome, lambda: loser.put(
            [record("s", 0, None, {"id": 0, "name": "a"}, value_schema=V1, partition=1)])))
        thread.start()
        time.sleep(0.5)
        db.commit()
        thread.join(10)
        assert outcome == [None]
    finally:
        winner.stop()
        loser.stop()
    assert target.query('SELECT "id" FROM s') == [(0,)]


def test_an_unreachable_database_fails_start_after_connection_attempts() -> None:
    port = free_port()  # nothing listens there
    config = FakeConfig({"name": "down", "connector.class": "jdbc-sink",
                         "connection.url": f"jdbc:postgresql://127.0.0.1:{port}/x?user=postgres",
                         "connection.attempts": "2", "connection.backoff.ms": "50"})
    task = PLUGIN.task_factory(config)
    started = time.monotonic()
    with pytest.raises(ConnectError, match=r"cannot connect to postgresql .*'port': '\d+'"):
        task.start(FakeContext(config))
    assert time.monotonic() - started >= 0.05  # waited once between the two attempts


def test_a_dotted_topic_is_schema_and_table_on_postgres(pg_server: PgCluster) -> None:
    """Confluent's naming: ``shop.orders`` is table ``orders`` in schema ``shop``; a missing schema fails
    the task after one retry, with PostgreSQL's reason."""
    target = postgres_target(pg_server)
    target.execute("CREATE SCHEMA shop")
    config = FakeConfig({"name": "dots", "connector.class": "jdbc-sink", "connection.url": target.url,
                         "auto.create": "true", "retry.backoff.ms": "50"})
    task = PLUGIN.task_factory(config)
    assert isinstance(task, JdbcSinkTask)
    task.start(FakeContext(config))
    try:
        task.put([record("shop.orders", 0, None, {"id": 1, "name": "a"}, value_schema=V1)])
        assert target.query('SELECT "id" FROM shop.orders') == [(1,)]
        started = time.monotonic()
        with pytest.raises(ConnectError, match='schema "nosuch" does not exist'):
            task.put([record("nosuch.orders", 0, None, {"id": 1, "name": "a"}, value_schema=V1)])
        assert time.monotonic() - started < 5
    finally:
        task.stop()
