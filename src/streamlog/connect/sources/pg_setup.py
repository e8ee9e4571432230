"""Connecting to Postgres and getting it ready for logical decoding: checks, publication, slot.

Theory of operation.  Before a CDC task reads anything it opens an ordinary connection and checks what
would otherwise fail later with an obscure server message, each failure one `ConnectError` line that says
the fix: the server cannot be reached; ``wal_level`` is not ``logical``; the user lacks the REPLICATION
privilege; the slot exists for another output plugin or is active for another backend (in use); the
publication is missing while ``publication.autocreate.mode=disabled``.  Then it creates or adjusts the
publication as Debezium does (``all_tables``: ``FOR ALL TABLES``; ``filtered``: ``FOR TABLE`` the captured
tables, ``SET TABLE`` on later starts; ``no_tables``: an empty publication for logical messages only), with
``publish`` limited to the operations not in ``skipped.operations``.

The connection settings are Debezium's ``database.*`` keys; the SSL ones and ``database.connect.timeout``
go to libpq under its own names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import psycopg2
import psycopg2.extensions

from streamlog.connect.api import ConnectError
from streamlog.connect.sources.pg_offsets import parse_lsn

# Debezium database.* key -> libpq keyword
LIBPQ_KEYS: Mapping[str, str] = {
    "database.sslmode": "sslmode", "database.sslcert": "sslcert", "database.sslkey": "sslkey",
    "database.sslpassword": "sslpassword", "database.sslrootcert": "sslrootcert",
    "database.sslfactory": "", "database.connect.timeout": "connect_timeout",
}


class DatabaseUnreachable(ConnectError):
    """The server cannot be reached (the CDC task retries this one while streaming)."""


class AutocreateMode(StrEnum):
    ALL_TABLES = "all_tables"
    FILTERED = "filtered"
    NO_TABLES = "no_tables"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    host: str
    port: int
    user: str
    password: str
    dbname: str
    extra: Mapping[str, str]

    def dsn_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"host": self.host, "port": self.port, "user": self.user,
                                  "dbname": self.dbname, "application_name": "streamlog-cdc"}
        if self.password:
            params["password"] = self.password
        params.update(self.extra)
        params.setdefault("connect_timeout", "10")
        return params

    def where(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.dbname}"

    @staticmethod
    def from_config(raw: Mapping[str, str]) -> DatabaseSettings:
        extra = {LIBPQ_KEYS[key]: value for key, value in raw.items() if LIBPQ_KEYS.get(key)}
        ms = extra.get("connect_timeout")
        if ms is not None:  # Debezium's database.connect.timeout is in ms; libpq wants whole seconds
            extra["connect_timeout"] = str(max(1, int(ms) // 1000))
        port = int(raw.get("database.port", "5432"))
        return DatabaseSettings(raw.get("database.hostname", "localhost"), port,
                                raw.get("database.user", "postgres"), raw.get("database.password", ""),
                                raw.get("database.dbname", "postgres"), extra)


def connect(settings: DatabaseSettings, **kwargs: Any) -> Any:
    """An ordinary (or, with connection_factory, a replication) connection; unreachable → ConnectError."""
    try:
        return psycopg2.connect(**settings.dsn_params(), **kwargs)
    except psycopg2.OperationalError as exc:
        detail = " ".join(str(exc).split())
        if "replication" in detail and "pg_hba" in detail:
            raise ConnectError(f"PostgreSQL at {settings.where()} refuses replication connections: "
                               f"{detail}; allow the user to connect to database {settings.dbname!r} in "
                               "pg_hba.conf (a logical replication connection matches the database's "
                               "name, not the 'replication' keyword) and give it the REPLICATION "
                               "privilege") from exc
        raise DatabaseUnreachable(f"cannot connect to PostgreSQL at {settings.where()}: {detail}; check "
                                  "database.hostname, database.port, database.user, database.password and "
                                  "database.dbname, and that the server accepts connections") from exc


def query(conn: Any, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(statement, params)
        return list(cur.fetchall()) if cur.description else []


def check_server(conn: Any, settings: DatabaseSettings) -> None:
    wal_level = query(conn, "SHOW wal_level")[0][0]
    if wal_level != "logical":
        raise ConnectError(f"PostgreSQL at {settings.where()} has wal_level={wal_level}; logical decoding "
                           "needs wal_level=logical: run ALTER SYSTEM SET wal_level = logical and restart "
                           "PostgreSQL")
    rows = query(conn, "SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user")
    if not rows or not rows[0][0]:
        raise ConnectError(f"user {settings.user!r} lacks the REPLICATION privilege needed for a replication "
                           f"slot: run ALTER ROLE \"{settings.user}\" REPLICATION (as a superuser)")


@dataclass(frozen=True, slots=True)
class SlotState:
    plugin: str
    active_pid: int | None
    confirmed_flush_lsn: int | None
    restart_lsn: int | None
    database: str | None


def slot_state(conn: Any, slot: str) -> SlotState | None:
    rows = query(conn, "SELECT plugin, active_pid, confirmed_flush_lsn::text, restart_lsn::text, database "
                       "FROM pg_replication_slots WHERE slot_name = %s", (slot,))
    if not rows:
        return None
    plugin, pid, confirmed, restart, database = rows[0]
    return SlotState(plugin, pid, None if confirmed is None else parse_lsn(confirmed),
                     None if restart is None else parse_lsn(restart), database)


def check_slot(conn: Any, slot: str, settings: DatabaseSettings) -> SlotState | None:
    state = slot_state(conn, slot)
    if state is None:
        return None
    if state.plugin != "pgoutput":
        raise ConnectError(f"replication slot {slot!r} uses the output plugin {state.plugin!r}, not "
                           f"pgoutput: drop it (SELECT pg_drop_replication_slot('{slot}')) or set slot.name "
                           "to another slot")
    if state.database != settings.dbname:
        raise ConnectError(f"replication slot {slot!r} belongs to database {state.database!r}, not "
                           f"{settings.dbname!r}: set slot.name to a slot of this database")
    if state.active_pid is not None:
        raise ConnectError(f"replication slot {slot!r} is in use by PostgreSQL backend PID "
                           f"{state.active_pid} (another connector is reading it): stop that reader, or set "
                           "slot.name to another slot")
    return state


def publish_clause(skipped: Sequence[str]) -> str:
    codes = (("c", "insert"), ("u", "update"), ("d", "delete"), ("t", "truncate"))
    operations = [name for code, name in codes if code not in skipped]
    return f"publish = '{', '.join(operations)}'"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_table(qualified: str) -> str:
    schema, _, table = qualified.partition(".")
    return f"{quote_ident(schema)}.{quote_ident(table)}"


def ensure_publication(conn: Any, name: str, mode: AutocreateMode, tables: Sequence[str],
                       skipped: Sequence[str]) -> None:
    """Create (or, in filtered mode, re-point) the publication; missing with mode disabled → ConnectError."""
    exists = bool(query(conn, "SELECT 1 FROM pg_publication WHERE pubname = %s", (name,)))
    ident = quote_ident(name)
    if mode is AutocreateMode.DISABLED:
        if not exists:
            raise ConnectError(f"publication {name!r} does not exist and publication.autocreate.mode="
                               f"disabled: create it (CREATE PUBLICATION {ident} FOR ALL TABLES, or FOR "
                               "TABLE ...) or set publication.autocreate.mode=all_tables|filtered")
        return
    with_clause = f"WITH ({publish_clause(skipped)})"
    table_list = ", ".join(quote_table(table) for table in tables)
    try:
        if mode is AutocreateMode.ALL_TABLES and not exists:
            query(conn, f"CREATE PUBLICATION {ident} FOR ALL TABLES {with_clause}")
        elif mode is AutocreateMode.NO_TABLES and not exists:
            query(conn, f"CREATE PUBLICATION {ident} {with_clause}")
        elif mode is AutocreateMode.FILTERED:
            if not exists:
                query(conn, f"CREATE PUBLICATION {ident} " + (f"FOR TABLE {table_list} " if tables else "")
                      + with_clause)
            elif tables:
                query(conn, f"ALTER PUBLICATION {ident} SET TABLE {table_list}")
    except psycopg2.errors.InsufficientPrivilege as exc:
        raise ConnectError(f"cannot create publication {name!r}: {str(exc).strip()}; FOR ALL TABLES needs a "
                           "superuser: create the publication yourself, or use publication.autocreate.mode="
                           "filtered with a user owning the tables") from exc
