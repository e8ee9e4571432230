"""pgoutput from a real server: a throwaway cluster, a publication and a pgoutput slot, DML of every kind,
read through ``pg_logical_slot_get_binary_changes`` and decoded message by message."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import pytest
from tests.support.pgcluster import PgCluster, pg_cluster

from streamlog.connect.sources.pgoutput import (
    Begin,
    ColumnValue,
    Commit,
    Delete,
    Insert,
    Message,
    PgOutputMessage,
    Relation,
    RelationColumn,
    ReplicaIdentity,
    Truncate,
    Type,
    Update,
    ValueKind,
    decode,
)

CHANGES = ("SELECT data FROM pg_logical_slot_get_binary_changes('s', NULL, NULL, 'proto_version', '1', "
           "'publication_names', 'p', 'messages', 'true')")


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    with pg_cluster() as pg:
        pg.sql("CREATE PUBLICATION p FOR ALL TABLES")
        yield pg


def _changes(pg: PgCluster, slot: str = "s") -> list[PgOutputMessage]:
    # The test cluster commits asynchronously (synchronous_commit=off) and logical decoding reads only WAL
    # that is flushed: a WAL switch flushes everything written so far.
    pg.sql("SELECT pg_switch_wal()")
    return [decode(bytes(cast(memoryview, row[0]))) for row in pg.sql(CHANGES.replace("'s'", f"'{slot}'"))]


def _t(text: str) -> ColumnValue:
    return ColumnValue(ValueKind.TEXT, text.encode())


NULL = ColumnValue(ValueKind.NULL)


def test_every_kind_of_change_decodes(cluster: PgCluster) -> None:
    pg = cluster
    pg.sql("CREATE TYPE mood AS ENUM ('sad', 'happy')")
    pg.sql("CREATE TABLE items (id int PRIMARY KEY, name text, feeling mood, big text)")
    pg.sql("CREATE TABLE notes (id int PRIMARY KEY, body text)")
    pg.sql("ALTER TABLE notes REPLICA IDENTITY FULL")
    pg.sql("SELECT pg_create_logical_replication_slot('s', 'pgoutput')")
    items_oid = int(pg.sql("SELECT 'items'::regclass::oid")[0][0])  # type: ignore[call-overload]
    notes_oid = int(pg.sql("SELECT 'notes'::regclass::oid")[0][0])  # type: ignore[call-overload]
    mood_oid = int(pg.sql("SELECT 'mood'::regtype::oid")[0][0])  # type: ignore[call-overload]
    big = "x" * 20_000 + "".join(str(i) for i in range(3000))  # TOASTed out of line

    pg.sql(f"INSERT INTO items VALUES (1, 'ä', 'happy', '{big}'), (2, NULL, NULL, NULL)")
    pg.sql("UPDATE items SET name = 'b' WHERE id = 1")  # big unchanged and TOASTed: 'u'
    pg.sql("UPDATE items SET id = 3 WHERE id = 2")  # key changed: old key 'K'
    pg.sql("DELETE FROM items WHERE id = 3")
    pg.sql("INSERT INTO notes VALUES (1, 'one')")
    pg.sql("UPDATE notes SET body = 'uno' WHERE id = 1")  # FULL: old row 'O'
    pg.sql("DELETE FROM notes WHERE id = 1")
    pg.sql("TRUNCATE notes, items RESTART IDENTITY")
    pg.sql("SELECT pg_logical_emit_message(true, 'outbox', 'in a transaction')")
    pg.sql("SELECT pg_logical_emit_message(false, 'ping', '\\x00ff'::bytea)")

    messages = _changes(pg)
    begins = [m for m in messages if isinstance(m, Begin)]
    commits = [m for m in messages if isinstance(m, Commit)]
    assert len(begins) == len(commits) == 9  # every statement but the non-transactional message
    for begin, commit in zip(begins, commits, strict=True):
        assert begin.final_lsn == commit.commit_lsn
        assert commit.end_lsn > commit.commit_lsn
        assert begin.commit_ts_us == commit.commit_ts_us
        assert 1_700_000_000_000_000 < commit.commit_ts_us < 4_000_000_000_000_000  # µs since 1970

    data = [m for m in messages if not isinstance(m, (Begin, Commit))]
    assert data[0] == Type(mood_oid, "public", "mood")
    assert data[1] == Relation(items_oid, "public", "items", ReplicaIdentity.DEFAULT, (
        RelationColumn(True, "id", 23, -1), RelationColumn(False, "name", 25, -1),
        RelationColumn(False, "feeling", mood_oid, -1), RelationColumn(False, "big", 25, -1)))
    assert data[2] == Insert(items_oid, (_t("1"), _t("ä"), _t("happy"), _t(big)))
    assert data[3] == Insert(items_oid, (_t("2"), NULL, NULL, NULL))
    assert data[4] == Update(items_oid, None, None,
                             (_t("1"), _t("b"), _t("happy"), ColumnValue(ValueKind.UNCHANGED_TOAST)))
    assert data[5] == Update(items_oid, "K", (_t("2"), NULL, NULL, NULL), (_t("3"), NULL, NULL, NULL))
    assert data[6] == Delete(items_oid, "K", (_t("3"), NULL, NULL, NULL))
    assert data[7] == Relation(notes_oid, "public", "notes", ReplicaIdentity.FULL, (
        RelationColumn(True, "id", 23, -1), RelationColumn(True, "body", 25, -1)))  # FULL: all are key
    assert data[8] == Insert(notes_oid, (_t("1"), _t("one")))
    assert data[9] == Update(notes_oid, "O", (_t("1"), _t("one")), (_t("1"), _t("uno")))
    assert data[10] == Delete(notes_oid, "O", (_t("1"), _t("uno")))
    # TRUNCATE sends the relations (and their non-built-in types) again, then the truncate itself
    tail = data[11:]
    assert {type(m) for m in tail[:3]} == {Relation, Type}
    truncate = tail[3]
    assert isinstance(truncate, Truncate)
    assert truncate.options == 2 and sorted(truncate.relation_oids) == sorted([items_oid, notes_oid])
    transactional, non_transactional = tail[4:]
    assert isinstance(transactional, Message) and isinstance(non_transactional, Message)
    assert (transactional.transactional, transactional.prefix, transactional.content) == (
        True, "outbox", b"in a transaction")
    assert commits[-2].end_lsn <= transactional.lsn <= begins[-1].final_lsn
    assert (non_transactional.transactional, non_transactional.prefix, non_transactional.content) == (
        False, "ping", b"\x00\xff")
    assert non_transactional.lsn > commits[-1].commit_lsn
    assert len(data) == 17


def test_typmods_and_a_relation_after_ddl(cluster: PgCluster) -> None:
    pg = cluster
    pg.sql("CREATE TABLE prices (id bigint PRIMARY KEY, amount numeric(10,3), code varchar(12), "
           "at timestamp(3))")
    pg.sql("SELECT pg_create_logical_replication_slot('t', 'pgoutput')")
    oid = int(pg.sql("SELECT 'prices'::regclass::oid")[0][0])  # type: ignore[call-overload]
    pg.sql("INSERT INTO prices VALUES (1, 12.5, 'abc', '2024-02-29 12:00:00.123')")
    pg.sql("ALTER TABLE prices ADD COLUMN note text")
    pg.sql("INSERT INTO prices VALUES (2, -0.001, NULL, NULL, 'added')")
    messages = _changes(pg, "t")
    relations = [m for m in messages if isinstance(m, Relation) and m.oid == oid]
    assert [len(r.columns) for r in relations] == [4, 5]  # a new Relation after the column was added
    amount, code, at = relations[0].columns[1:]
    assert (amount.type_oid, ((amount.type_modifier - 4) >> 16, (amount.type_modifier - 4) & 0xFFFF)) == (
        1700, (10, 3))
    assert (code.type_oid, code.type_modifier) == (1043, 12 + 4)
    assert (at.type_oid, at.type_modifier) == (1114, 3)
    inserts = [m for m in messages if isinstance(m, Insert) and m.relation_oid == oid]
    assert [v.text() for v in inserts[0].new] == ["1", "12.500", "abc", "2024-02-29 12:00:00.123"]
    assert [v.text() for v in inserts[1].new] == ["2", "-0.001", None, None, "added"]
