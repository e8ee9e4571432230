"""`streamlog.outbox.publish` and the outbox table DDL on real databases: psycopg2 on a throwaway
PostgreSQL, sqlite3 files, pymysql on a throwaway MariaDB, and SQLAlchemy over each.  The row appears
when the caller commits and not when it rolls back; publish itself never commits."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from tests.connect.outbox.outbox_support import PgDatabase
from tests.support.mariadb import MariaDbServer

from streamlog.outbox import Dialect, create_outbox_table, outbox_table_ddl, publish, quote_identifier


def _rows(cursor: Any, table: str = "outbox") -> list[tuple[Any, ...]]:
    cursor.execute(f"SELECT id, aggregatetype, aggregateid, type, payload FROM {table} ORDER BY seq")
    return [tuple(row) for row in cursor.fetchall()]


def test_sqlite3_commit_and_rollback(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "app.db")
    create_outbox_table(conn)
    conn.commit()
    event = publish(conn, "order", 17, "OrderCreated", {"total": 12.5, "items": [1, 2]})
    assert uuid.UUID(event)
    conn.commit()
    publish(conn, "order", 18, "OrderCreated", {"total": 1})
    conn.rollback()
    other = sqlite3.connect(tmp_path / "app.db")
    rows = _rows(other.cursor())
    assert rows == [(event, "order", "17", "OrderCreated", '{"total":12.5,"items":[1,2]}')]
    timestamp, seq = other.execute('SELECT "timestamp", seq FROM outbox').fetchone()
    assert isinstance(timestamp, int) and timestamp > 1_700_000_000_000 and seq == 1


def test_publish_never_commits(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "app.db")
    create_outbox_table(conn)
    conn.commit()
    publish(conn, "order", "1", "OrderCreated", "{}", event_id="e-1")
    assert conn.in_transaction
    other = sqlite3.connect(tmp_path / "app.db")
    assert _rows(other.cursor()) == []  # not visible before the caller commits
    conn.commit()
    assert _rows(other.cursor()) == [("e-1", "order", "1", "OrderCreated", "{}")]


def test_psycopg2_with_state_change_in_one_transaction(pg: PgDatabase) -> None:
    conn = pg.connect()
    with conn.cursor() as cur:
        create_outbox_table(conn)
        cur.execute("CREATE TABLE orders (id int PRIMARY KEY, total numeric)")
    conn.commit()
    with conn.cursor() as cur:
        cur.execute("INSERT INTO orders VALUES (1, 9.5)")
    event = publish(conn, "order", 1, "OrderCreated", {"id": 1, "total": "9.5"})
    conn.commit()
    with conn.cursor() as cur:
        cur.execute("INSERT INTO orders VALUES (2, 1)")
    publish(conn, "order", 2, "OrderCreated", {"id": 2})
    conn.rollback()
    check = pg.connect()
    with check.cursor() as cur:
        rows = _rows(cur)
        cur.execute("SELECT count(*) FROM orders")
        assert cur.fetchone() == (1,)
        cur.execute("SELECT pg_typeof(payload)::text, pg_typeof(id)::text FROM outbox")
        assert cur.fetchone() == ("jsonb", "uuid")
    assert [(r[0], r[2], r[4]) for r in rows] == [(event, "1", {"id": 1, "total": "9.5"})]
    conn.close()
    check.close()


def test_psycopg2_extra_columns_and_schema_qualified_table(pg: PgDatabase) -> None:
    conn = pg.connect()
    with conn.cursor() as cur:
        cur.execute("CREATE SCHEMA app")
        create_outbox_table(conn, "app.events")
        cur.execute("ALTER TABLE app.events ADD COLUMN tracingspancontext text")
    publish(conn, "customer", "c-9", "CustomerMoved", b'{"to": "Oslo"}'.decode(), table="app.events",
            extra_columns={"tracingspancontext": "span-1"})
    conn.commit()
    with conn.cursor() as cur:
        cur.execute("SELECT aggregateid, payload, tracingspancontext FROM app.events")
        assert cur.fetchall() == [("c-9", {"to": "Oslo"}, "span-1")]
    conn.close()


def test_pymysql_commit_and_rollback(mariadb: MariaDbServer) -> None:
    conn = mariadb.connect()
    create_outbox_table(conn, with_published_at=True)
    event = publish(conn, "order", 5, "OrderPaid", [{"amount": 3}])
    conn.commit()
    publish(conn, "order", 6, "OrderPaid", {"amount": 4})
    conn.rollback()
    check = mariadb.connect()
    with check.cursor() as cur:
        rows = _rows(cur)
        cur.execute("SELECT published_at FROM outbox")
        assert cur.fetchall() == ((None,),)
    assert [(r[0], r[2]) for r in rows] == [(event, "5")]
    assert json.loads(rows[0][4]) == [{"amount": 3}]
    conn.close()
    check.close()


def test_sqlalchemy_connection_and_session(tmp_path: Path, pg: PgDatabase, mariadb: MariaDbServer) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    from sqlalchemy.orm import Session

    urls = [f"sqlite:///{tmp_path / 'sa.db'}",
            f"postgresql+psycopg2://postgres@127.0.0.1:{pg.cluster.port}/{pg.dbname}",
            f"mysql+pymysql://root:@127.0.0.1:{mariadb.port}/{mariadb.database}"]
    for url in urls:
        engine = sqlalchemy.create_engine(url)
        with engine.begin() as connection:
            create_outbox_table(connection)
        with engine.connect() as connection:
            first = publish(connection, "order", 1, "OrderCreated", {"n": 1})
            connection.commit()
            publish(connection, "order", 2, "OrderCreated", {"n": 2})
            connection.rollback()
        with Session(engine) as session:
            second = publish(session, "order", 3, "OrderCreated", {"n": 3})
            session.commit()
        with Session(engine) as session:
            publish(session, "order", 4, "OrderCreated", {"n": 4})
            session.rollback()
        with engine.connect() as connection:
            found = connection.execute(sqlalchemy.text(
                "SELECT id, aggregateid FROM outbox ORDER BY seq")).all()
        assert [(str(i), a) for i, a in found] == [(first, "1"), (second, "3")], url
        engine.dispose()


def test_unsupported_connection_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="unsupported connection"):
        publish(object(), "order", 1, "OrderCreated", {})


def test_ddl_per_dialect_and_identifier_checks() -> None:
    assert "jsonb" in outbox_table_ddl("postgresql")[0]
    assert "AUTO_INCREMENT" in outbox_table_ddl(Dialect.MYSQL)[0]
    assert "AUTOINCREMENT" in outbox_table_ddl("sqlite")[0]
    assert len(outbox_table_ddl("postgres", with_published_at=True)) == 2
    assert quote_identifier("app.outbox", Dialect.MYSQL) == "`app`.`outbox`"
    with pytest.raises(ValueError, match="identifier"):
        quote_identifier('outbox"; DROP TABLE x; --', Dialect.POSTGRESQL)
    with pytest.raises(ValueError, match="unsupported database"):
        outbox_table_ddl("oracle")
