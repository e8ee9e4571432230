"""The polling outbox relay's SQL, per database: connecting, claiming rows, and finishing them.

Theory of operation: the relay (outbox_poll.py) needs four things from a database, and each database
says them differently:

* **connect** (`open_connection`): psycopg2 for PostgreSQL, pymysql for MariaDB/MySQL, sqlite3 for a
  file.  Postgres ``json``/``jsonb`` values are kept as their text (not parsed), so a payload reaches the
  topic byte for byte as the database returns it.  MariaDB/MySQL sessions run at ``READ COMMITTED``
  (InnoDB then takes no gap locks, so a claim never blocks the application's inserts, and each claim
  sees rows committed since the last one) with ``time_zone='+00:00'``.  SQLite runs in autocommit mode.
* **claim** (`claim_sql`): ``SELECT * FROM <table> [WHERE <sequence> > %s] [AND <published> IS NULL]
  ORDER BY <sequence> LIMIT n`` plus ``FOR UPDATE SKIP LOCKED`` where the database has it (PostgreSQL
  9.5+, MariaDB 10.6+, MySQL 8.0+): rows another relay holds are skipped, not waited for.  An older
  MariaDB/MySQL gets ``FOR UPDATE`` alone (a second relay waits instead of skipping).  SQLite has no row
  locks: the statement has neither, and one relay per database file is the rule.
* **finish** (`finish_sql`): ``DELETE FROM <table> WHERE <sequence> IN (...)``, or with
  ``delete.after.publish=false`` ``UPDATE <table> SET <published> = <now> WHERE <sequence> IN (...)``.
  By the sequence column, not the event id: on InnoDB it is the table's primary key
  (`streamlog.outbox.outbox_table_ddl`).  On MariaDB/MySQL one row per statement (`finish_one_sql`,
  ``= %s``): given an ``IN`` list over a small table the optimizer scans it, and a DELETE that scans a row
  another relay holds waits for it (InnoDB's semi-consistent read helps UPDATE only).
* **placeholders**: statements are written with ``%s``; `placeholders` converts them for sqlite3 (``?``).

Values are normalised (`normalise_value`) so routing sees one shape whatever the driver: ``uuid.UUID``
and ``Decimal`` as text, ``memoryview``/``bytearray`` as bytes, naive datetimes as UTC.
"""

from __future__ import annotations

import decimal
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import unquote, urlparse

from streamlog.connect.api import ConnectError
from streamlog.outbox import Dialect, dialect_of, quote_identifier

_NOW: Final[Mapping[Dialect, str]] = {
    Dialect.POSTGRESQL: "now()",
    Dialect.MYSQL: "CURRENT_TIMESTAMP(6)",
    Dialect.SQLITE: "CAST(ROUND((julianday('now') - 2440587.5) * 86400000) AS INTEGER)",
}


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    """Where the outbox lives: a dialect and its connection settings (``path`` for SQLite)."""

    dialect: Dialect
    hostname: str = "127.0.0.1"
    port: int | None = None
    user: str | None = None
    password: str | None = None
    dbname: str | None = None
    path: str | None = None
    extra: Mapping[str, str] | None = None  # further libpq settings (database.sslmode ...)

    def describe(self) -> str:
        if self.dialect is Dialect.SQLITE:
            return f"sqlite:{self.path}"
        return f"{self.dialect.value}://{self.hostname}:{self.port or ''}/{self.dbname or ''}"


def settings_from_url(url: str) -> DatabaseSettings:
    """``postgresql://user:pw@host:port/db``, ``mariadb://...``/``mysql://...``, ``sqlite:///path``
    (a driver suffix such as ``postgresql+psycopg2`` is ignored)."""
    parsed = urlparse(url)
    try:
        dialect = dialect_of(parsed.scheme.split("+")[0])
    except ValueError as exc:
        raise ConnectError(f"database.url {url!r}: {exc}") from None
    if dialect is Dialect.SQLITE:
        path = url.split(":", 1)[1]
        path = path[3:] if path.startswith("///") else path.lstrip("/") if path.startswith("//") else path
        return DatabaseSettings(dialect, path=path)
    return DatabaseSettings(dialect, parsed.hostname or "127.0.0.1", parsed.port,
                            unquote(parsed.username) if parsed.username else None,
                            unquote(parsed.password) if parsed.password else None,
                            parsed.path.lstrip("/") or None)


def open_connection(settings: DatabaseSettings) -> Any:
    """A DB-API connection set up as the module docstring says."""
    if settings.dialect is Dialect.POSTGRESQL:
        import psycopg2
        import psycopg2.extras

        params: dict[str, Any] = {"host": settings.hostname, "port": settings.port or 5432,
                                  "user": settings.user, "dbname": settings.dbname,
                                  "application_name": "streamlog-outbox-relay", **(settings.extra or {})}
        if settings.password:
            params["password"] = settings.password
        conn = psycopg2.connect(**{k: v for k, v in params.items() if v is not None})
        psycopg2.extras.register_default_json(conn, loads=lambda text: text)
        psycopg2.extras.register_default_jsonb(conn, loads=lambda text: text)
        return conn
    if settings.dialect is Dialect.MYSQL:
        import pymysql

        conn = pymysql.connect(host=settings.hostname, port=settings.port or 3306, user=settings.user or "",
                               password=settings.password or "", database=settings.dbname, autocommit=False)
        with conn.cursor() as cursor:
            cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
            cursor.execute("SET time_zone = '+00:00'")
        conn.commit()
        return conn
    import sqlite3

    if not settings.path:
        raise ConnectError("an sqlite outbox needs database.path (or database.url=sqlite:///path)")
    conn = sqlite3.connect(settings.path, isolation_level=None, timeout=30)
    return conn


def supports_skip_locked(dialect: Dialect, conn: Any) -> bool:
    if dialect is Dialect.SQLITE:
        return False
    if dialect is Dialect.POSTGRESQL:
        return True
    cursor = conn.cursor()
    try:
        cursor.execute("SELECT VERSION()")
        version = str(cursor.fetchone()[0])
    finally:
        cursor.close()
    conn.commit()
    numbers = [int(n) for n in re.findall(r"\d+", version)[:2]] or [0, 0]
    major, minor = [*numbers, 0][:2]
    if "mariadb" in version.lower():
        return (major, minor) >= (10, 6)
    return major >= 8


@dataclass(frozen=True, slots=True)
class OutboxTable:
    """The relay's view of the table: its name and the columns it needs."""

    dialect: Dialect
    name: str
    id_column: str
    sequence_column: str
    published_column: str | None  # None: rows are deleted after publishing

    def claim_sql(self, limit: int, after_sequence: bool, skip_locked: bool) -> str:
        q = self.quote
        conditions = []
        if after_sequence:
            conditions.append(f"{q(self.sequence_column)} > %s")
        if self.published_column is not None:
            conditions.append(f"{q(self.published_column)} IS NULL")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        lock = ""
        if self.dialect is not Dialect.SQLITE:
            lock = " FOR UPDATE SKIP LOCKED" if skip_locked else " FOR UPDATE"
        return (f"SELECT * FROM {q(self.name)}{where} ORDER BY {q(self.sequence_column)} "
                f"LIMIT {int(limit)}{lock}")

    def finish_sql(self, count: int) -> str:
        q = self.quote
        keys = ", ".join("%s" for _ in range(count))
        if self.published_column is None:
            return f"DELETE FROM {q(self.name)} WHERE {q(self.sequence_column)} IN ({keys})"
        return (f"UPDATE {q(self.name)} SET {q(self.published_column)} = {_NOW[self.dialect]} "
                f"WHERE {q(self.sequence_column)} IN ({keys})")

    def finish_one_sql(self) -> str:
        statement = self.finish_sql(1)
        return statement[:statement.rindex(" IN (")] + " = %s"

    def probe_sql(self) -> str:
        return f"SELECT * FROM {self.quote(self.name)} WHERE 1 = 0"

    def quote(self, name: str) -> str:
        try:
            return quote_identifier(name, self.dialect)
        except ValueError as exc:
            raise ConnectError(str(exc)) from None

    def placeholders(self, statement: str) -> str:
        return statement.replace("%s", "?") if self.dialect is Dialect.SQLITE else statement


def normalise_value(value: Any) -> Any:
    """One value of a fetched row in the shape routing expects (see the module docstring)."""
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
