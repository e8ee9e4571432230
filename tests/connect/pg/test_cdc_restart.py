"""Restarts of the Postgres CDC task: what the stored offset says is exactly what is skipped, in streaming
and in the middle of a snapshot, and each snapshot.mode."""

from __future__ import annotations

import time

import pytest
from tests.connect.pg.cdc_support import Harness, db_config, ops, run_sql
from tests.support.pgcluster import PgCluster


def _quiet(h: Harness, seconds: float = 1.0) -> None:
    """Poll for a while and expect nothing."""
    deadline = time.monotonic() + seconds
    before = len(h.records)
    while time.monotonic() < deadline:
        h.poll_once()
    assert h.records[before:] == []


def test_restart_inside_a_transaction_skips_exactly_what_was_stored(cluster: PgCluster, db: str) -> None:
    run_sql(cluster, db, "CREATE TABLE t (id int PRIMARY KEY, v text)", "INSERT INTO t VALUES (1, 'a')")
    raw = db_config(cluster, db, snapshot_mode="no_data")
    h = Harness(raw).start()
    h.poll_once()
    run_sql(cluster, db, "UPDATE t SET id = 2 WHERE id = 1")  # d + tombstone + c in one transaction
    records = h.poll_until(lambda rs: len(rs) >= 3, commit=False)
    h.commit(records[:1])  # only the delete reached the broker
    h.stop()
    run_sql(cluster, db, "INSERT INTO t VALUES (3, 'c')")
    h2 = Harness(raw, offsets=h.context.offsets).start()
    try:
        h2.poll_until(lambda rs: len(rs) >= 3)
        assert ops(h2.records) == [(None, {"id": 1}), ("c", {"id": 2}), ("c", {"id": 3})]
        _quiet(h2, 0.5)
    finally:
        h2.stop()
    # after a complete acknowledgement nothing comes again
    h3 = Harness(raw, offsets=h2.context.offsets).start()
    try:
        _quiet(h3, 1.0)
    finally:
        h3.stop()


def test_crash_in_the_middle_of_the_snapshot_resumes_without_repeating(cluster: PgCluster, db: str) -> None:
    run_sql(cluster, db, "CREATE TABLE a (id int PRIMARY KEY, v int)", "CREATE TABLE b (k text PRIMARY KEY, "
                                                                       "v int)",
            "INSERT INTO a SELECT i, 0 FROM generate_series(1, 20) i",
            "INSERT INTO b SELECT 'k' || i, 0 FROM generate_series(1, 5) i")
    raw = db_config(cluster, db, max_batch_size="5")
    h = Harness(raw).start()
    first = h.poll_once()
    assert [r.key["id"] for r in first] == [1, 2, 3, 4, 5]
    h.stop()  # the process "dies": offsets say rows 1..5 of a are out
    # while it is down: changes to rows already emitted and rows not yet read
    run_sql(cluster, db, "UPDATE a SET v = 1 WHERE id = 2", "DELETE FROM a WHERE id = 3", "UPDATE a SET v = "
                                                                                          "1 WHERE id = 15",
            "INSERT INTO a VALUES (25, 1)", "UPDATE b SET v = 1 WHERE k = 'k2'")
    h2 = Harness(raw, offsets=h.context.offsets).start()
    try:
        h2.poll_until(lambda rs: sum(1 for r in rs if r.value and r.value["op"] == "r") >= 15 + 1 + 5
                      and len(rs) >= 24)
        reads = [r for r in h2.records if r.value and r.value["op"] == "r"]
        assert [r.key.get("id", r.key.get("k")) for r in reads] == [
            *range(6, 21), 25, "k1", "k2", "k3", "k4", "k5"]
        assert {r.key.get("id", r.key.get("k")): r.value["after"]["v"] for r in reads}[15] == 1
        assert reads[-1].value["source"]["snapshot"] == "last"
        changes = [r for r in h2.records if not (r.value and r.value["op"] == "r")]
        # only the changes to rows the first snapshot run had emitted come from the stream
        assert ops(changes) == [("u", {"id": 2}), ("d", {"id": 3}), (None, {"id": 3})]
        run_sql(cluster, db, "UPDATE a SET v = 2 WHERE id = 15", "UPDATE b SET v = 2 WHERE k = 'k2'")
        h2.poll_until(lambda rs: len(rs) >= 26)
        assert ops(h2.records[24:]) == [("u", {"id": 15}), ("u", {"k": "k2"})]
    finally:
        h2.stop()


def test_snapshot_mode_initial_only_reads_and_stops(cluster: PgCluster, db: str) -> None:
    run_sql(cluster, db, "CREATE TABLE t (id int PRIMARY KEY)", "INSERT INTO t VALUES (1), (2)")
    h = Harness(db_config(cluster, db, snapshot_mode="initial_only")).start()
    try:
        h.poll_until(lambda rs: len(rs) >= 2)
        run_sql(cluster, db, "INSERT INTO t VALUES (3)")
        _quiet(h, 1.0)
        assert ops(h.records) == [("r", {"id": 1}), ("r", {"id": 2})]
        # no slot is left behind to hold WAL: the exported snapshot came from a temporary one
        assert cluster.sql(f"SELECT slot_name FROM pg_replication_slots WHERE database = '{db}'") == []
    finally:
        h.stop()


@pytest.mark.parametrize("mode", ["no_data", "never"])
def test_snapshot_mode_no_data_streams_only(cluster: PgCluster, db: str, mode: str) -> None:
    run_sql(cluster, db, "CREATE TABLE t (id int PRIMARY KEY)", "INSERT INTO t VALUES (1)")
    h = Harness(db_config(cluster, db, snapshot_mode=mode)).start()
    try:
        h.poll_once()
        run_sql(cluster, db, "INSERT INTO t VALUES (2)")
        h.poll_until(lambda rs: len(rs) >= 1)
        assert ops(h.records) == [("c", {"id": 2})]
    finally:
        h.stop()


def test_snapshot_mode_always_reads_again_and_does_not_repeat_changes(cluster: PgCluster, db: str) -> None:
    run_sql(cluster, db, "CREATE TABLE t (id int PRIMARY KEY, v int)", "INSERT INTO t VALUES (1, 0)")
    raw = db_config(cluster, db, snapshot_mode="always")
    h = Harness(raw).start()
    h.poll_until(lambda rs: len(rs) >= 1)
    run_sql(cluster, db, "INSERT INTO t VALUES (2, 0)")
    h.poll_until(lambda rs: len(rs) >= 2)
    h.stop()
    run_sql(cluster, db, "UPDATE t SET v = 1 WHERE id = 1")  # while down: in the new snapshot, not streamed
    h2 = Harness(raw, offsets=h.context.offsets).start()
    try:
        h2.poll_until(lambda rs: len(rs) >= 2)
        run_sql(cluster, db, "INSERT INTO t VALUES (3, 0)")
        h2.poll_until(lambda rs: len(rs) >= 3)
        _quiet(h2, 0.5)
        assert ops(h2.records) == [("r", {"id": 1}), ("r", {"id": 2}), ("c", {"id": 3})]
        assert h2.records[0].value["after"]["v"] == 1
    finally:
        h2.stop()


def test_snapshot_mode_when_needed_snapshots_again_when_the_slot_is_gone(cluster: PgCluster, db: str) -> None:
    run_sql(cluster, db, "CREATE TABLE t (id int PRIMARY KEY)", "INSERT INTO t VALUES (1)")
    raw = db_config(cluster, db, snapshot_mode="when_needed")
    h = Harness(raw).start()
    h.poll_until(lambda rs: len(rs) >= 1)
    h.stop()
    h2 = Harness(raw, offsets=h.context.offsets).start()  # slot still there: no snapshot
    try:
        _quiet(h2, 0.5)
    finally:
        h2.stop()
    cluster.sql(f"SELECT pg_drop_replication_slot('slot_{db}')")
    h3 = Harness(raw, offsets=h.context.offsets).start()
    try:
        h3.poll_until(lambda rs: len(rs) >= 1)
        assert ops(h3.records) == [("r", {"id": 1})]
    finally:
        h3.stop()


def test_slot_drop_on_stop(cluster: PgCluster, db: str) -> None:
    h = Harness(db_config(cluster, db, snapshot_mode="no_data", slot_drop_on_stop="true")).start()
    h.poll_once()
    h.stop()
    assert cluster.sql(f"SELECT 1 FROM pg_replication_slots WHERE slot_name = 'slot_{db}'") == []
