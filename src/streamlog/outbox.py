"""The transactional outbox, application side: write an event in the same transaction as the state change.

Theory of operation: a service that must both change its database and emit an event cannot do both
atomically against two systems; it writes the event as a row of an *outbox table* in its own database
transaction instead, and a relay publishes the committed rows: Debezium-style CDC with the outbox event
router (``transforms.outbox.type=io.debezium.transforms.outbox.EventRouter``) or, without logical
replication, the polling relay (``connector.class=outbox-poll``).  A rolled-back transaction leaves no row,
so no event; a committed one always yields its event (at least once: consumers deduplicate on the ``id``
header).

`publish` inserts one row through the caller's connection and returns the event id; it never commits
or rolls back: the caller's transaction decides.  It accepts, detected by class without importing what is
not installed: a psycopg2 connection, a psycopg (3) connection, a sqlite3 connection, a pymysql
connection, or a SQLAlchemy ``Connection`` / ``Session`` (any dialect of those databases).  The payload:
a dict or list is written as JSON text (into ``jsonb`` on Postgres, ``JSON`` on MariaDB/MySQL), str and
bytes as they are (e.g. Avro bytes into a ``bytea`` payload column).

`outbox_table_ddl` / `create_outbox_table` give the table Debezium's router expects, plus what the polling
relay needs, per database:

===============  ============================  ==================================  ==========================
column           PostgreSQL                    MariaDB / MySQL                     SQLite
===============  ============================  ==================================  ==========================
id               uuid, primary key             CHAR(36), unique                    TEXT, unique
aggregatetype    varchar(255) not null         VARCHAR(255) not null               TEXT not null
aggregateid      varchar(255) not null         VARCHAR(255) not null               TEXT not null
type             varchar(255) not null         VARCHAR(255) not null               TEXT not null
payload          jsonb                         JSON                                TEXT
timestamp        timestamptz, default now()    TIMESTAMP(6), default now           INTEGER ms, default now
seq              bigserial, unique (insertion  BIGINT AUTO_INCREMENT, primary key  INTEGER PRIMARY KEY
                 order for the relay)          (InnoDB's clustered order)          AUTOINCREMENT
published_at     timestamptz (optional)        TIMESTAMP(6) NULL (optional)        INTEGER (optional)
===============  ============================  ==================================  ==========================

``published_at`` (with an index on it and ``seq``) is only for a relay with ``delete.after.publish=false``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Final


class Dialect(StrEnum):
    POSTGRESQL = "postgresql"
    MYSQL = "mysql"  # MariaDB and MySQL
    SQLITE = "sqlite"


_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
COLUMNS: Final = ("id", "aggregatetype", "aggregateid", "type", "payload")


def dialect_of(name: str) -> Dialect:
    """A dialect from a database or driver name (``postgresql``, ``postgres``, ``mariadb``, ``mysql``,
    ``sqlite``)."""
    lowered = name.lower()
    if lowered.startswith("postgres"):
        return Dialect.POSTGRESQL
    if lowered in ("mysql", "mariadb"):
        return Dialect.MYSQL
    if lowered.startswith("sqlite"):
        return Dialect.SQLITE
    raise ValueError(f"unsupported database {name!r} (postgresql, mariadb/mysql or sqlite)")


def quote_identifier(name: str, dialect: Dialect) -> str:
    """A table or column name quoted for the dialect; ``schema.table`` quoted part by part.  Only plain
    identifiers are accepted (they come from configs and code, never from data)."""
    parts = name.split(".")
    if not all(_IDENTIFIER.fullmatch(part) for part in parts):
        raise ValueError(f"{name!r} is not a plain SQL identifier")
    quote = "`" if dialect is Dialect.MYSQL else '"'
    return ".".join(f"{quote}{part}{quote}" for part in parts)


def _index_name(table: str, suffix: str) -> str:
    return f"{table.split('.')[-1]}_{suffix}"


def outbox_table_ddl(dialect: Dialect | str, table: str = "outbox", *,
                     with_published_at: bool = False) -> list[str]:
    """The statements that create the outbox table (if it does not exist); see the module docstring."""
    dialect = dialect if isinstance(dialect, Dialect) else dialect_of(dialect)
    t = quote_identifier(table, dialect)
    statements: list[str]
    if dialect is Dialect.POSTGRESQL:
        published = ",\n  published_at timestamptz" if with_published_at else ""
        statements = [
            f'CREATE TABLE IF NOT EXISTS {t} (\n  id uuid NOT NULL PRIMARY KEY,\n'
            '  aggregatetype varchar(255) NOT NULL,\n  aggregateid varchar(255) NOT NULL,\n'
            '  type varchar(255) NOT NULL,\n  payload jsonb,\n'
            '  "timestamp" timestamptz NOT NULL DEFAULT now(),\n'
            f'  seq bigserial NOT NULL UNIQUE{published}\n)']
    elif dialect is Dialect.MYSQL:
        index = quote_identifier(_index_name(table, "unpublished"), dialect)
        published = (",\n  `published_at` TIMESTAMP(6) NULL DEFAULT NULL,\n"
                     f"  INDEX {index} (`published_at`, `seq`)" if with_published_at else "")
        statements = [
            f"CREATE TABLE IF NOT EXISTS {t} (\n  `seq` BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,\n"
            "  `id` CHAR(36) NOT NULL UNIQUE,\n  `aggregatetype` VARCHAR(255) NOT NULL,\n"
            "  `aggregateid` VARCHAR(255) NOT NULL,\n  `type` VARCHAR(255) NOT NULL,\n  `payload` JSON,\n"
            f"  `timestamp` TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6){published}\n) ENGINE=InnoDB"]
    else:
        published = ",\n  published_at INTEGER" if with_published_at else ""
        statements = [
            f"CREATE TABLE IF NOT EXISTS {t} (\n  seq INTEGER PRIMARY KEY AUTOINCREMENT,\n"
            "  id TEXT NOT NULL UNIQUE,\n  aggregatetype TEXT NOT NULL,\n  aggregateid TEXT NOT NULL,\n"
            "  type TEXT NOT NULL,\n  payload TEXT,\n"
            "  \"timestamp\" INTEGER NOT NULL DEFAULT (CAST(ROUND((julianday('now') - 2440587.5) * 86400000)"
            f" AS INTEGER)){published}\n)"]
    if with_published_at and dialect is not Dialect.MYSQL:
        index = quote_identifier(_index_name(table, "unpublished"), dialect)
        statements.append(f"CREATE INDEX IF NOT EXISTS {index} ON {t} (published_at, seq)")
    return statements


# -- driver detection --------------------------------------------------------------------------------

class _Driver(StrEnum):
    PSYCOPG2 = "psycopg2"
    PSYCOPG = "psycopg"
    SQLITE3 = "sqlite3"
    PYMYSQL = "pymysql"
    SQLALCHEMY_CONNECTION = "sqlalchemy-connection"
    SQLALCHEMY_SESSION = "sqlalchemy-session"


def _driver(conn: Any) -> _Driver:
    for klass in type(conn).__mro__:
        module, name = klass.__module__ or "", klass.__name__
        root = module.split(".")[0]
        if root == "sqlalchemy":
            if name == "Connection":
                return _Driver.SQLALCHEMY_CONNECTION
            if name in ("Session", "scoped_session"):
                return _Driver.SQLALCHEMY_SESSION
        elif root == "psycopg2" and name == "connection":
            return _Driver.PSYCOPG2
        elif root == "psycopg" and name == "Connection":
            return _Driver.PSYCOPG
        elif root == "sqlite3" and name == "Connection":
            return _Driver.SQLITE3
        elif root == "pymysql" and name == "Connection":
            return _Driver.PYMYSQL
    raise TypeError(f"streamlog.outbox.publish: unsupported connection {type(conn).__module__}."
                    f"{type(conn).__qualname__} (psycopg2, psycopg, sqlite3, pymysql or a SQLAlchemy "
                    "Connection/Session)")


def _sqlalchemy_dialect(conn: Any, driver: _Driver) -> Dialect:
    bind = conn.get_bind() if driver is _Driver.SQLALCHEMY_SESSION else conn
    return dialect_of(str(bind.dialect.name))


def _dialect(conn: Any, driver: _Driver) -> Dialect:
    if driver in (_Driver.PSYCOPG2, _Driver.PSYCOPG):
        return Dialect.POSTGRESQL
    if driver is _Driver.PYMYSQL:
        return Dialect.MYSQL
    if driver is _Driver.SQLITE3:
        return Dialect.SQLITE
    return _sqlalchemy_dialect(conn, driver)


def create_outbox_table(conn: Any, table: str = "outbox", *, with_published_at: bool = False) -> None:
    """Create the outbox table through ``conn`` (any connection `publish` takes), in its transaction
    (commit it yourself; on MariaDB/MySQL DDL commits implicitly)."""
    driver = _driver(conn)
    for statement in outbox_table_ddl(_dialect(conn, driver), table, with_published_at=with_published_at):
        _execute(conn, driver, statement, ())


def _execute(conn: Any, driver: _Driver, statement: str, params: tuple[Any, ...]) -> None:
    """Run ``statement`` whose parameters are written ``%s`` (converted to the driver's style)."""
    if driver in (_Driver.SQLALCHEMY_CONNECTION, _Driver.SQLALCHEMY_SESSION):
        from sqlalchemy import text

        names = [f"p{i}" for i in range(len(params))]
        counter = iter(names)
        converted = re.sub(r"%s", lambda _m: f":{next(counter)}", statement)
        conn.execute(text(converted), dict(zip(names, params, strict=True)))
        return
    if driver is _Driver.SQLITE3:
        conn.execute(statement.replace("%s", "?"), params)
        return
    cursor = conn.cursor()
    try:
        cursor.execute(statement, params if params else None)
    finally:
        cursor.close()


def _payload_value(payload: Any) -> str | bytes | None:
    if payload is None or isinstance(payload, str | bytes):
        return payload
    if isinstance(payload, bytearray | memoryview):
        return bytes(payload)
    return json.dumps(payload, separators=(",", ":"), default=str)


def publish(conn: Any, aggregate_type: str, aggregate_id: str | int, event_type: str, payload: Any, *,
            table: str = "outbox", event_id: str | uuid.UUID | None = None,
            extra_columns: Mapping[str, Any] | None = None) -> str:
    """Insert one outbox row in the caller's open transaction (never committing) and return its event
    id (a new UUID unless ``event_id`` is given).  ``extra_columns`` fills other columns of the table
    (e.g. ``tracingspancontext``, or columns the router places in headers)."""
    driver = _driver(conn)
    dialect = _dialect(conn, driver)
    event = str(event_id) if event_id is not None else str(uuid.uuid4())
    values: dict[str, Any] = {"id": event, "aggregatetype": aggregate_type, "aggregateid": str(aggregate_id),
                              "type": event_type, "payload": _payload_value(payload)}
    for name, value in (extra_columns or {}).items():
        if name in values:
            raise ValueError(f"extra column {name!r} is one of the outbox's own columns")
        values[name] = value
    columns = ", ".join(quote_identifier(name, dialect) for name in values)
    placeholders = ", ".join("%s" for _ in values)
    statement = f"INSERT INTO {quote_identifier(table, dialect)} ({columns}) VALUES ({placeholders})"
    _execute(conn, driver, statement, tuple(values.values()))
    return event
