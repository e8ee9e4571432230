"""Where the JDBC sink's SQL differs per database: connecting, quoting, DML, table metadata, offsets.

Theory of operation: `connect(settings)` reads ``connection.url`` and opens a DB-API connection with
psycopg2 (PostgreSQL) or sqlite3 (SQLite) and wraps it in a `SqlDialect`, which knows the placeholder
style, how identifiers are quoted, how to read a table's columns, and the statements the sink runs:

* upsert: ``INSERT INTO t (k.., v..) VALUES (..) ON CONFLICT (k..) DO UPDATE SET v = EXCLUDED.v, ..``
  (``DO NOTHING`` when every column is a key column); both PostgreSQL (9.5+) and SQLite (3.24+) have it;
* insert: ``INSERT INTO t (..) VALUES (..)``;
* update: ``UPDATE t SET v = ?, .. WHERE k = ? AND ..``;
* delete: ``DELETE FROM t WHERE k = ? AND ..``.

Both connections run in explicit transactions: psycopg2 opens one at the first statement; sqlite3 is
opened in autocommit mode and the sink says ``BEGIN IMMEDIATE`` itself (taking SQLite's write lock at the
start, so a second writer waits instead of failing at commit).  ``begin()``, ``commit()``, ``rollback()``.

The offsets table (name from ``offsets.table.name``, default ``__streamlog_sink_offsets``)::

    connector    TEXT    NOT NULL   the connector's name
    topic        TEXT    NOT NULL   the Kafka topic
    partition    INTEGER NOT NULL   the Kafka partition
    next_offset  BIGINT  NOT NULL   the offset of the next record to apply (last applied + 1)
    PRIMARY KEY (connector, topic, partition)

It is written in the same transaction as the rows of every batch.  Its identifiers are always quoted.
A dotted offsets table name is ``schema.table`` on PostgreSQL.

URLs: ``jdbc:postgresql://host[:port]/db[?user=..&password=..&currentSchema=..&sslmode=..]`` (also without
``jdbc:``, ``postgres://``); ``jdbc:sqlite:<path>`` (``:memory:`` too), ``sqlite:///relative.db``,
``sqlite:////absolute.db`` (SQLAlchemy's form).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

from streamlog.connect.api import ConnectError
from streamlog.connect.sinks.jdbc_schema import Column, Dialect, column_definition

_LIBPQ_PARAMS: Final = frozenset({"sslmode", "sslcert", "sslkey", "sslrootcert", "connect_timeout",
                                  "application_name", "options", "target_session_attrs"})


@dataclass(frozen=True, slots=True)
class TableRef:
    """A table: PostgreSQL schema (None: the search path's) and name."""

    schema: str | None
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


@dataclass(frozen=True, slots=True)
class ConnectionTarget:
    dialect: Dialect
    options: Mapping[str, str]  # psycopg2 keyword arguments, or {"database": path} for sqlite3


def parse_url(url: str, user: str | None = None, password: str | None = None) -> ConnectionTarget:
    """``connection.url`` (plus ``connection.user`` / ``connection.password``) → what to connect to."""
    text = url.strip()
    bare = text.removeprefix("jdbc:")
    if bare.startswith("sqlite:"):
        rest = bare.removeprefix("sqlite:")
        if rest.startswith("///"):
            path = rest[3:]  # sqlite:///relative, sqlite:////absolute
        elif rest.startswith("//"):
            path = rest[2:]
        else:
            path = rest
        path = path.split("?", 1)[0]
        if not path:
            raise ConnectError(f"connection.url {url!r} names no SQLite file (jdbc:sqlite:/path/to/file.db)")
        return ConnectionTarget(Dialect.SQLITE, {"database": unquote(path)})
    if bare.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(bare)
        options: dict[str, str] = {}
        if parts.hostname:
            options["host"] = parts.hostname
        if parts.port:
            options["port"] = str(parts.port)
        database = unquote(parts.path.lstrip("/"))
        if database:
            options["dbname"] = database
        if parts.username:
            options["user"] = unquote(parts.username)
        if parts.password:
            options["password"] = unquote(parts.password)
        for key, value in parse_qsl(parts.query):
            if key in ("user", "password"):
                options[key] = value
            elif key == "currentSchema":
                options["options"] = f"-c search_path={value}"
            elif key in _LIBPQ_PARAMS:
                options[key] = value
        if user:
            options["user"] = user
        if password:
            options["password"] = password
        return ConnectionTarget(Dialect.POSTGRESQL, options)
    raise ConnectError(f"connection.url {url!r}: Streamlog's JDBC sink writes to PostgreSQL "
                       "(jdbc:postgresql://host:port/db) or SQLite (jdbc:sqlite:/path/file.db)")


class DatabaseUnavailable(ConnectError):
    """The database could not be reached (worth another try later)."""


class SqlDialect:
    """An open connection and the SQL of its database (see the module docstring)."""

    def __init__(self, target: ConnectionTarget, connection: Any, *, quote_identifiers: bool) -> None:
        self.dialect = target.dialect
        self.connection = connection
        self.quote_identifiers = quote_identifiers
        self.placeholder = "%s" if self.dialect is Dialect.POSTGRESQL else "?"

    # -- identifiers ----------------------------------------------------------------------------------
    def quote(self, name: str, *, force: bool = False) -> str:
        if not (self.quote_identifiers or force):
            return name
        return '"' + name.replace('"', '""') + '"'

    def table_sql(self, table: TableRef, *, force: bool = False) -> str:
        name = self.quote(table.name, force=force)
        return f"{self.quote(table.schema, force=force)}.{name}" if table.schema else name

    def stored_name(self, name: str) -> str:
        """The name the database keeps for an identifier the sink writes (PostgreSQL folds unquoted names)."""
        if self.dialect is Dialect.POSTGRESQL and not self.quote_identifiers:
            return name.lower()
        return name

    def same_name(self, existing: str, wanted: str) -> bool:
        """Whether a column the database reports is the one a field names (SQLite compares names without
        case; PostgreSQL folds unquoted names to lower case)."""
        if self.dialect is Dialect.SQLITE:
            return existing.lower() == wanted.lower()
        return existing == self.stored_name(wanted)

    # -- transactions -----------------------------------------------------------------------------------
    def begin(self) -> None:
        if self.dialect is Dialect.SQLITE:
            self.connection.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.connection.commit()

    def rollback(self) -> None:
        with contextlib.suppress(Exception):  # a broken connection: nothing to roll back
            self.connection.rollback()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.connection.close()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self.connection.cursor()
        try:
            cursor.execute(sql, tuple(params))
            return list(cursor.fetchall()) if cursor.description else []
        finally:
            cursor.close()

    def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if self.dialect is Dialect.POSTGRESQL:
            from psycopg2.extras import execute_batch

            with self.connection.cursor() as cursor:
                execute_batch(cursor, sql, rows, page_size=500)
        else:
            self.connection.executemany(sql, rows)

    # -- metadata ---------------------------------------------------------------------------------------
    def table_columns(self, table: TableRef) -> list[str] | None:
        """The table's column names, None when there is no such table."""
        if self.dialect is Dialect.SQLITE:
            rows = self.execute(f"PRAGMA table_info({self.quote(table.name, force=True)})")
            return [str(row[1]) for row in rows] or None
        name = table.name if self.quote_identifiers else table.name.lower()
        if table.schema is None:
            rows = self.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                                "AND table_schema = (SELECT n.nspname FROM pg_class c JOIN pg_namespace n "
                                "ON n.oid = c.relnamespace WHERE c.oid = to_regclass(%s)) "
                                "ORDER BY ordinal_position",
                                (name, self.table_sql(table)))
        else:
            schema = table.schema if self.quote_identifiers else table.schema.lower()
            rows = self.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                                "AND table_name = %s ORDER BY ordinal_position", (schema, name))
        return [str(row[0]) for row in rows] or None

    # -- DDL ------------------------------------------------------------------------------------------
    def create_table_sql(self, table: TableRef, key: Sequence[Column], values: Sequence[Column]) -> str:
        lines = [column_definition(c, self.dialect, self.quote(c.name), primary=True) for c in key]
        lines += [column_definition(c, self.dialect, self.quote(c.name), primary=False) for c in values]
        if key:
            lines.append(f"PRIMARY KEY({', '.join(self.quote(c.name) for c in key)})")
        body = ",\n  ".join(lines)
        return f"CREATE TABLE {self.table_sql(table)} (\n  {body})"

    def add_column_sql(self, table: TableRef, column: Column) -> str:
        definition = column_definition(column, self.dialect, self.quote(column.name), primary=False)
        return f"ALTER TABLE {self.table_sql(table)} ADD COLUMN {definition}"

    # -- DML ------------------------------------------------------------------------------------------
    def _names(self, columns: Iterable[Column]) -> list[str]:
        return [self.quote(c.name) for c in columns]

    def insert_sql(self, table: TableRef, key: Sequence[Column], values: Sequence[Column]) -> str:
        names = self._names([*key, *values])
        marks = ", ".join([self.placeholder] * len(names))
        return f"INSERT INTO {self.table_sql(table)} ({', '.join(names)}) VALUES ({marks})"

    def upsert_sql(self, table: TableRef, key: Sequence[Column], values: Sequence[Column]) -> str:
        insert = self.insert_sql(table, key, values)
        conflict = ", ".join(self._names(key))
        if not values:
            return f"{insert} ON CONFLICT ({conflict}) DO NOTHING"
        updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in self._names(values))
        return f"{insert} ON CONFLICT ({conflict}) DO UPDATE SET {updates}"

    def update_sql(self, table: TableRef, key: Sequence[Column], values: Sequence[Column]) -> str:
        sets = ", ".join(f"{name} = {self.placeholder}" for name in self._names(values))
        return f"UPDATE {self.table_sql(table)} SET {sets} WHERE {self._where(key)}"

    def delete_sql(self, table: TableRef, key: Sequence[Column]) -> str:
        return f"DELETE FROM {self.table_sql(table)} WHERE {self._where(key)}"

    def _where(self, key: Sequence[Column]) -> str:
        return " AND ".join(f"{name} = {self.placeholder}" for name in self._names(key))

    # -- the offsets table ----------------------------------------------------------------------------
    def create_offsets_table(self, table: TableRef) -> None:
        self.begin()
        self.execute(f"CREATE TABLE IF NOT EXISTS {self.table_sql(table, force=True)} ("
                     '"connector" TEXT NOT NULL, "topic" TEXT NOT NULL, "partition" INTEGER NOT NULL, '
                     '"next_offset" BIGINT NOT NULL, PRIMARY KEY ("connector", "topic", "partition"))')
        self.commit()

    def read_offsets(self, table: TableRef, connector: str, partitions: Collection[tuple[str, int]] = (), *,
                     lock: bool = False) -> dict[tuple[str, int], int]:
        """(topic, partition) → next offset stored for the connector: all its rows, or only those of
        ``partitions``.  ``lock``: PostgreSQL locks the rows read (FOR UPDATE) until the transaction ends,
        so two tasks never apply the same records (SQLite's BEGIN IMMEDIATE already serializes writers)."""
        mark = self.placeholder
        sql = (f'SELECT "topic", "partition", "next_offset" FROM {self.table_sql(table, force=True)} '
               f'WHERE "connector" = {mark}')
        params: list[Any] = [connector]
        if partitions:
            ordered = sorted(partitions)
            sql += ' AND ("topic", "partition") IN (' + ", ".join([f"({mark}, {mark})"] * len(ordered)) + ")"
            params += [item for pair in ordered for item in pair]
        if lock and self.dialect is Dialect.POSTGRESQL:
            sql += ' ORDER BY "topic", "partition" FOR UPDATE'
        return {(str(topic), int(partition)): int(offset)
                for topic, partition, offset in self.execute(sql, params)}

    def write_offsets(self, table: TableRef, connector: str, offsets: Mapping[tuple[str, int], int]) -> None:
        mark = self.placeholder
        sql = (f'INSERT INTO {self.table_sql(table, force=True)} ("connector", "topic", "partition", '
               f'"next_offset") VALUES ({mark}, {mark}, {mark}, {mark}) ON CONFLICT ("connector", "topic", '
               '"partition") DO UPDATE SET "next_offset" = EXCLUDED."next_offset"')
        self.execute_many(sql, [(connector, topic, partition, offset)
                                for (topic, partition), offset in sorted(offsets.items())])


def connect(url: str, user: str | None, password: str | None, *, quote_identifiers: bool) -> SqlDialect:
    """Open the connection ``connection.url`` names; a failure is a ConnectError saying where."""
    target = parse_url(url, user, password)
    try:
        if target.dialect is Dialect.SQLITE:
            connection: Any = sqlite3.connect(target.options["database"], isolation_level=None, timeout=30.0,
                                              check_same_thread=False)
        else:
            import psycopg2

            connection = psycopg2.connect(**target.options)
    except Exception as exc:
        where = {k: v for k, v in target.options.items() if k != "password"}
        raise DatabaseUnavailable(f"cannot connect to {target.dialect.value} {where}: {exc}".strip()) from exc
    return SqlDialect(target, connection, quote_identifiers=quote_identifiers)


def table_ref(name: str, dialect: Dialect, *, debezium: bool) -> TableRef:
    """A table name after ``table.name.format``: Debezium's naming turns dots into underscores;
    Confluent's reads ``[catalog.]schema.table`` on PostgreSQL (catalog dropped).  SQLite: one name."""
    if debezium:
        return TableRef(None, name.replace(".", "_"))
    if dialect is Dialect.SQLITE or "." not in name:
        return TableRef(None, name)
    parts = name.split(".")
    return TableRef(parts[-2], parts[-1])
