"""The Postgres CDC task against a real throwaway PostgreSQL, driven the way the runner drives it (poll,
acknowledge, offsets_committed) without a broker: Debezium's envelopes field by field, every kind of
change, filters, and the LSN it confirms."""

from __future__ import annotations

import json
import time

import pytest
from tests.connect.pg.cdc_support import Harness, cdc_config, db_config, ops, run_sql, slot_lsn
from tests.support.pgcluster import PgCluster, PgClusterError, pg_cluster

from streamlog.connect.api import ConnectError
from streamlog.connect.data import Type


def test_snapshot_then_streaming_envelopes_field_by_field(cluster: PgCluster, db: str) -> None:
    run_sql(cluster, db, "CREATE TABLE customers (id int PRIMARY KEY, first_name text NOT NULL, email text)",
            "INSERT INTO customers VALUES (1001, 'Sally', 'sally@example.com')")
    h = Harness(db_config(cluster, db)).start()
    try:
        [read] = h.poll_until(lambda rs: len(rs) >= 1)
        assert read.topic == "inv.public.customers"
        assert read.key == {"id": 1001}
        assert read.key_schema is not None and read.key_schema.name == "inv.public.customers.Key"
        assert [f.name for f in read.key_schema.fields] == ["id"]
        id_schema = read.key_schema.fields[0].schema
        assert id_schema.type is Type.INT32 and not id_schema.optional
        envelope = read.value_schema
        assert envelope is not None and envelope.name == "inv.public.customers.Envelope"
        assert envelope.version == 2
        assert [f.name for f in envelope.fields] == ["before", "after", "source", "transaction", "op",
                                                     "ts_ms", "ts_us", "ts_ns"]
        value_schema = envelope.fields[0].schema
        assert value_schema.name == "inv.public.customers.Value" and value_schema.optional
        assert [(f.name, f.schema.type, f.schema.optional) for f in value_schema.fields] == [
            ("id", Type.INT32, False), ("first_name", Type.STRING, False), ("email", Type.STRING, True)]
        source_schema = envelope.fields[2].schema
        assert source_schema.name == "io.debezium.connector.postgresql.Source"
        assert [f.name for f in source_schema.fields] == [
            "version", "connector", "name", "ts_ms", "snapshot", "db", "sequence", "ts_us", "ts_ns", "schema",
            "table", "txId", "lsn", "xmin"]
        value = read.value
        assert value["op"] == "r" and value["before"] is None
        assert value["after"] == {"id": 1001, "first_name": "Sally", "email": "sally@example.com"}
        source = value["source"]
        assert source["connector"] == "postgresql" and source["name"] == "inv" and source["db"] == db
        assert (source["schema"], source["table"]) == ("public", "customers")
        assert source["snapshot"] == "last"  # the only row: first and last; Debezium marks the last
        assert source["ts_us"] == source["ts_ms"] * 1000 + source["ts_us"] % 1000
        assert value["ts_ns"] == value["ts_us"] * 1000 and value["ts_ms"] == value["ts_us"] // 1000
        assert read.source_partition == {"server": "inv"}
        assert read.source_offset["snapshot_completed"] is True

        run_sql(cluster, db, "INSERT INTO customers VALUES (1002, 'George', NULL)",
                "UPDATE customers SET first_name = 'Anne' WHERE id = 1001",
                "DELETE FROM customers WHERE id = 1002")
        h.poll_until(lambda rs: len(rs) >= 5)
        create, update, delete, tombstone = h.records[1:5]
        assert create.value["op"] == "c" and create.value["before"] is None
        assert create.value["after"] == {"id": 1002, "first_name": "George", "email": None}
        csource = create.value["source"]
        assert csource["snapshot"] == "false" and isinstance(csource["txId"], int) and csource["lsn"] > 0
        assert json.loads(csource["sequence"])[1] == str(csource["lsn"])
        assert create.timestamp == csource["ts_ms"]  # record time = commit time
        # REPLICA IDENTITY DEFAULT: no before-image on an update that keeps the key
        assert update.value["op"] == "u" and update.value["before"] is None
        assert update.value["after"]["first_name"] == "Anne" and update.key == {"id": 1001}
        # a delete's before has the key columns; required columns get Debezium's empty value
        assert delete.value["op"] == "d" and delete.value["after"] is None
        assert delete.value["before"] == {"id": 1002, "first_name": "", "email": None}
        assert (tombstone.key, tombstone.value, tombstone.value_schema) == ({"id": 1002}, None, None)
        tx_ids = [r.value["source"]["txId"] for r in (create, update, delete)]
        assert tx_ids == sorted(set(tx_ids))
    finally:
        h.stop()


def test_primary_key_change_and_replica_identity_full(cluster: PgCluster, db: str) -> None:
    run_sql(cluster, db, "CREATE TABLE t (id int PRIMARY KEY, v text)", "ALTER TABLE t REPLICA IDENTITY FULL",
            "INSERT INTO t VALUES (1, 'a')")
    h = Harness(db_config(cluster, db, snapshot_mode="no_data")).start()
    try:
        h.poll_once()
        run_sql(cluster, db, "UPDATE t SET v = 'b' WHERE id = 1", "UPDATE t SET id = 2 WHERE id = 1",
                "DELETE FROM t WHERE id = 2")
        h.poll_until(lambda rs: len(rs) >= 6)
        assert ops(h.records) == [("u", {"id": 1}), ("d", {"id": 1}), (None, {"id": 1}), ("c", {"id": 2}),
                                  ("d", {"id": 2}), (None, {"id": 2})]
        update, delete, _tomb, create, delete2, _ = h.records
        assert update.value["before"] == {"id": 1, "v": "a"} and update.value["after"] == {"id": 1, "v": "b"}
        assert delete.value["before"] == {"id": 1, "v": "b"} and delete.headers == (
            ("__debezium.newkey", json.dumps({"id": 2})),)
        assert create.value["after"] == {"id": 2, "v": "b"} and create.headers == (
            ("__debezium.oldkey", json.dumps({"id": 1})),)
        assert delete2.value["before"] == {"id": 2, "v": "b"}
        # the three records of the key change are one transaction: offsets count them
        assert [r.source_offset.get("lsn_events_processed") for r in h.records[1:4]] == [1, 2, None]
    finally:
        h.stop()


def test_unchanged_toast_value_is_the_placeholder_unless_full(cluster: PgCluster, db: str) -> None:
    big = "x" * 20000
    run_sql(cluster, db, "CREATE TABLE d (id int PRIMARY KEY, n int, body text)",
            "ALTER TABLE d ALTER COLUMN body SET STORAGE EXTERNAL",
            "CREATE TABLE f (id int PRIMARY KEY, n int, body text)", "ALTER TABLE f REPLICA IDENTITY FULL",
            "ALTER TABLE f ALTER COLUMN body SET STORAGE EXTERNAL",
            f"INSERT INTO d VALUES (1, 0, '{big}')", f"INSERT INTO f VALUES (1, 0, '{big}')")
    h = Harness(db_config(cluster, db, snapshot_mode="no_data")).start()
    try:
        h.poll_once()
        run_sql(cluster, db, "UPDATE d SET n = 1", "UPDATE f SET n = 1")
        h.poll_until(lambda rs: len(rs) >= 2)
        by_table = {r.topic: r.value for r in h.records}
        assert by_table["inv.public.d"]["after"]["body"] == "__debezium_unavailable_value"
        assert by_table["inv.public.f"]["after"]["body"] == big
        assert by_table["inv.public.f"]["before"]["body"] == big
    finally:
        h.stop()


def test_truncate_skipped_by_default_and_emitted_when_asked(cluster: PgCluster, db: str) -> None:
    run_sql(cluster, db, "CREATE TABLE a (id int PRIMARY KEY)", "CREATE TABLE b (id int PRIMARY KEY)")
    h = Harness(db_config(cluster, db, snapshot_mode="no_data", skipped_operations="none",
                          publication_name="pub_all")).start()
    try:
        h.poll_once()
        run_sql(cluster, db, "INSERT INTO a VALUES (1)", "TRUNCATE a, b")
        h.poll_until(lambda rs: len(rs) >= 3)
        truncates = [r for r in h.records if r.value and r.value["op"] == "t"]
        assert sorted(r.topic for r in truncates) == ["inv.public.a", "inv.public.b"]
        assert all(r.key is None and r.key_schema is None and r.value["before"] is None
                   and r.value["after"] is None for r in truncates)
    finally:
        h.stop()
    # the default (skipped.operations=t) publishes no truncate at all
    db2 = db + "_default"
    cluster.sql(f"CREATE DATABASE {db2}")
    run_sql(cluster, db2, "CREATE TABLE a (id int PRIMARY KEY)")
    h = Harness(db_config(cluster, db2, snapshot_mode="no_data")).start()
    try:
        h.poll_once()
        run_sql(cluster, db2, "TRUNCATE a", "INSERT INTO a VALUES (7)")
        h.poll_until(lambda rs: len(rs) >= 1)
        assert ops(h.records) == [("c", {"id": 7})]
    finally:
        h.stop()


def test_logical_messages(cluster: PgCluster, db: str) -> None:
    h = Harness(db_config(cluster, db, snapshot_mode="no_data")).start()
    try:
        h.poll_once()
        run_sql(cluster, db, "SELECT pg_logical_emit_message(true, 'orders', 'hello')",
                "SELECT pg_logical_emit_message(false, 'audit', '\\x00ff'::bytea)")
        h.poll_until(lambda rs: len(rs) >= 2)
        assert {r.topic for r in h.records} == {"inv.message"}
        by_prefix = {r.key["prefix"]: r for r in h.records}
        orders = by_prefix["orders"]
        assert orders.key_schema is not None
        assert orders.key_schema.name == "io.debezium.connector.postgresql.MessageKey"
        assert orders.value["op"] == "m"
        assert orders.value["message"] == {"prefix": "orders", "content": b"hello"}
        assert orders.value["source"]["table"] == "" and isinstance(orders.value["source"]["txId"], int)
        assert by_prefix["audit"].value["message"]["content"] == b"\x00\xff"
    finally:
        h.stop()


def test_include_and_exclude_lists(cluster: PgCluster, db: str) -> None:
    run_sql(cluster, db, "CREATE SCHEMA s2",
            "CREATE TABLE public.keep (id int PRIMARY KEY, secret text, v int)",
            "CREATE TABLE public.drop_me (id int PRIMARY KEY)", "CREATE TABLE s2.other (id int PRIMARY KEY)",
            "INSERT INTO keep VALUES (1, 's', 1)", "INSERT INTO drop_me VALUES (1)", "INSERT INTO s2.other "
                                                                                     "VALUES (1)")
    h = Harness(db_config(cluster, db, table_include_list="public\\.k.*,s2\\..*",
                          column_exclude_list="public\\.keep\\.secret",
                          publication_autocreate_mode="filtered", publication_name="pub_f")).start()
    try:
        h.poll_until(lambda rs: len(rs) >= 2)
        run_sql(cluster, db, "INSERT INTO keep VALUES (2, 's', 2)", "INSERT INTO drop_me VALUES (2)",
                "INSERT INTO s2.other VALUES (2)")
        h.poll_until(lambda rs: len(rs) >= 4)
        assert sorted((r.topic, r.key["id"]) for r in h.records) == [
            ("inv.public.keep", 1), ("inv.public.keep", 2), ("inv.s2.other", 1), ("inv.s2.other", 2)]
        assert all("secret" not in r.value["after"] for r in h.data(".keep"))
        tables = cluster.sql("SELECT schemaname || '.' || tablename FROM pg_publication_tables "
                             "WHERE pubname = 'pub_f' ORDER BY 1", dbname=db)
        assert [t for (t,) in tables] == ["public.keep", "s2.other"]
    finally:
        h.stop()


def test_added_column_appears_in_the_next_events(cluster: PgCluster, db: str) -> None:
    run_sql(cluster, db, "CREATE TABLE t (id int PRIMARY KEY)")
    h = Harness(db_config(cluster, db, snapshot_mode="no_data")).start()
    try:
        h.poll_once()
        run_sql(cluster, db, "INSERT INTO t VALUES (1)", "ALTER TABLE t ADD COLUMN price numeric(10,2)",
                "INSERT INTO t VALUES (2, 9.50)")
        h.poll_until(lambda rs: len(rs) >= 2)
        first, second = h.records
        assert first.value["after"] == {"id": 1}
        assert [f.name for f in second.value_schema.fields[1].schema.fields] == ["id", "price"]
        assert str(second.value["after"]["price"]) == "9.50"
    finally:
        h.stop()


def test_transaction_metadata(cluster: PgCluster, db: str) -> None:
    run_sql(cluster, db, "CREATE TABLE t (id int PRIMARY KEY)", "CREATE TABLE u (id int PRIMARY KEY)")
    h = Harness(db_config(cluster, db, snapshot_mode="no_data", provide_transaction_metadata="true")).start()
    try:
        h.poll_once()
        run_sql(cluster, db, "BEGIN; INSERT INTO t VALUES (1); INSERT INTO u VALUES (1); INSERT INTO t "
                             "VALUES (2); "
                             "COMMIT")
        h.poll_until(lambda rs: len(rs) >= 5)
        begin, t1, u1, t2, end = h.records
        assert begin.topic == end.topic == "inv.transaction"
        assert begin.value["status"] == "BEGIN" and end.value["status"] == "END"
        tx_id = begin.value["id"]
        assert tx_id == f"{t1.value['source']['txId']}:{t1.value['source']['lsn'] and tx_id.split(':')[1]}"
        assert [r.value["transaction"] for r in (t1, u1, t2)] == [
            {"id": tx_id, "total_order": 1, "data_collection_order": 1},
            {"id": tx_id, "total_order": 2, "data_collection_order": 1},
            {"id": tx_id, "total_order": 3, "data_collection_order": 2}]
        assert end.value["event_count"] == 3 and end.value["data_collections"] == [
            {"data_collection": "public.t", "event_count": 2},
            {"data_collection": "public.u", "event_count": 1}]
    finally:
        h.stop()


def test_confirmed_lsn_waits_for_acknowledgement_and_heartbeats_move_it(cluster: PgCluster, db: str) -> None:
    run_sql(cluster, db, "CREATE TABLE t (id int PRIMARY KEY)", "CREATE TABLE other (id int PRIMARY KEY)",
            "CREATE TABLE beats (at timestamptz)")
    h = Harness(db_config(cluster, db, snapshot_mode="no_data", heartbeat_interval_ms="300",
                          heartbeat_action_query="INSERT INTO beats VALUES (now())",
                          table_include_list="public\\.t")).start()
    slot = f"slot_{db}"
    try:
        h.poll_once(commit=False)
        start = slot_lsn(cluster, slot)
        run_sql(cluster, db, "INSERT INTO t VALUES (1)")
        pending = h.poll_until(lambda rs: any(r.value and r.value.get("op") == "c" for r in rs), commit=False)
        for _ in range(5):  # nothing acknowledged: the slot stays where it was
            h.poll_once(commit=False)
        assert slot_lsn(cluster, slot) == start
        h.commit([r for r in pending if r.value and r.value.get("op") == "c"])
        acked = slot_lsn(cluster, slot)
        assert acked > start
        # changes only to a table that is not captured; heartbeats carry the server's position
        run_sql(cluster, db, *[f"INSERT INTO other VALUES ({i})" for i in range(5)])
        h.records.clear()
        h.poll_until(lambda rs: sum(r.topic == "__debezium-heartbeat.inv" for r in rs) >= 3)
        beat = next(r for r in h.records if r.topic == "__debezium-heartbeat.inv")
        assert beat.key == {"serverName": "inv"} and set(beat.value) == {"ts_ms"}
        assert slot_lsn(cluster, slot) > acked
        assert cluster.sql("SELECT count(*) FROM beats", dbname=db)[0][0] >= 3  # heartbeat.action.query ran
    finally:
        h.stop()


def test_snapshot_and_stream_give_the_same_values_for_every_type(cluster: PgCluster, db: str) -> None:
    run_sql(cluster, db, "CREATE TYPE mood AS ENUM ('sad', 'happy')",
            "CREATE TABLE v (id int PRIMARY KEY, n numeric(10, 3), f float8, ts timestamp(3), "
            "tz timestamptz, d date, j jsonb, u uuid, a int[], e mood, b bytea, t text, bo boolean, "
            "i interval)")
    row = ("1.250, 2.5, '2024-02-29 10:00:00.123', '2024-02-29 10:00:00+02', '2024-02-29', "
           "'{\"k\": [1]}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,NULL,3}', 'happy', '\\x00ff', 'é', "
           "true, '1 day 2 hours'")
    run_sql(cluster, db, f"INSERT INTO v VALUES (1, {row})")
    h = Harness(db_config(cluster, db)).start()
    try:
        h.poll_until(lambda rs: len(rs) >= 1)
        run_sql(cluster, db, f"INSERT INTO v VALUES (2, {row})")
        h.poll_until(lambda rs: len(rs) >= 2)
        read, create = h.records
        assert read.value_schema == create.value_schema
        after_read = {k: v for k, v in read.value["after"].items() if k != "id"}
        after_create = {k: v for k, v in create.value["after"].items() if k != "id"}
        assert after_read == after_create
        assert after_read["e"] == "happy" and after_read["a"] == [1, None, 3]
        assert after_read["b"] == b"\x00\xff"
        assert str(after_read["n"]) == "1.250" and after_read["t"] == "é" and after_read["bo"] is True
    finally:
        h.stop()


def _start_again(cluster: PgCluster) -> None:
    """Start a killed cluster; its orphaned backends may hold the shared memory a moment longer."""
    for _ in range(20):
        try:
            cluster.start()
            return
        except PgClusterError:
            time.sleep(0.5)
    cluster.start()


def test_replication_connection_lost_reconnects_then_fails_after_the_timeout(db: str) -> None:
    with pg_cluster() as own:
        own.sql("CREATE TABLE t (id int PRIMARY KEY)")
        h = Harness({**cdc_config(own), "snapshot.mode": "no_data", "reconnect.timeout.ms": "3000"}).start()
        try:
            h.poll_once()
            own.sql("INSERT INTO t VALUES (1)")
            own.sql("CHECKPOINT")
            h.poll_until(lambda rs: len(rs) >= 1)
            own.kill()
            h.poll_once()
            _start_again(own)
            own.sql("INSERT INTO t VALUES (2)")
            h.poll_until(lambda rs: len(rs) >= 2, timeout=30)
            assert ops(h.records) == [("c", {"id": 1}), ("c", {"id": 2})]
            own.kill()
            with pytest.raises(ConnectError, match=r"not back within reconnect\.timeout\.ms"):
                for _ in range(100):
                    h.poll_once()
        finally:
            h.stop()
