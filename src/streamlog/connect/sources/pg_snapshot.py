"""The initial snapshot: which tables are captured, what they look like, and reading them in key order.

Theory of operation.  Tables are listed from the catalog (ordinary tables outside ``pg_catalog``,
``information_schema`` and the TOAST/temp schemas) and filtered with Debezium's lists: each entry a
regular expression matched against the whole ``schema`` (``schema.include.list``/``exclude.list``) or
``schema.table`` (``table.include.list``/``exclude.list``), case-insensitively; an include list wins over
the exclude list of the same kind.  They are read in ``schema.table`` order.

A `SnapshotReader` reads inside ``BEGIN ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION SNAPSHOT
'<exported>'``, so what it sees is exactly the database at the replication slot's consistent point.
Every column is read in its type's text output format (pg_catalog.text_expression): the very text
pgoutput would send, so the snapshot and the stream share one conversion.  Rows come in primary-key
order (text keys compared with ``COLLATE "C"``, i.e. by code point as Python compares str), through
a server-side cursor, a batch at a time, so ``poll`` stays short; an interrupted table is resumed
with ``WHERE (pk) > (last key)``.  One row of look-ahead tells which row is the last of its table and
of the whole snapshot (Debezium's ``snapshot`` markers).

`key_sort_value` gives the Python value that orders a key column's text as Postgres orders the column
(integers, numerics, floats by number; everything else by text).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from streamlog.connect.sources import pg_catalog
from streamlog.connect.sources.pg_envelope import ColumnInfo, SnapshotMarker, TableInfo
from streamlog.connect.sources.pg_setup import query, quote_ident, quote_table

_NUMERIC_TYPES = {"int2": int, "int4": int, "int8": int, "oid": int, "numeric": Decimal, "float4": float,
                  "float8": float}


def key_sort_value(type_name: str, text: str | None) -> Any:
    convert = _NUMERIC_TYPES.get(type_name)
    if text is None:
        return (0, "")
    return (1, convert(text)) if convert else (1, text)


@dataclass(frozen=True, slots=True)
class TableFilter:
    """Debezium's schema/table include and exclude lists (regexes, full, case-insensitive match)."""

    schema_include: tuple[str, ...] = ()
    schema_exclude: tuple[str, ...] = ()
    table_include: tuple[str, ...] = ()
    table_exclude: tuple[str, ...] = ()

    @staticmethod
    def _any(patterns: Sequence[str], text: str) -> bool:
        return any(re.fullmatch(pattern, text, re.IGNORECASE) for pattern in patterns)

    def captures(self, schema: str, table: str) -> bool:
        if self.schema_include and not self._any(self.schema_include, schema):
            return False
        if not self.schema_include and self._any(self.schema_exclude, schema):
            return False
        qualified = f"{schema}.{table}"
        if self.table_include:
            return self._any(self.table_include, qualified)
        return not self._any(self.table_exclude, qualified)


def list_tables(conn: Any, table_filter: TableFilter) -> list[tuple[int, str, str]]:
    """(oid, schema, table) of every captured table, in ``schema.table`` order."""
    rows = query(conn, """
        SELECT c.oid, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%'
        ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"
    """)
    return [(int(oid), schema, table) for oid, schema, table in rows if table_filter.captures(schema, table)]


def describe_table(conn: Any, oid: int) -> TableInfo | None:
    """The table's columns (as pgoutput sends them: no dropped or generated ones; types through
    pg_catalog, domains as their base types) and primary key; None when it is gone."""
    head = query(conn, "SELECT n.nspname, c.relname, c.relreplident FROM pg_class c "
                       "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = %s", (oid,))
    if not head:
        return None
    schema, table, identity = head[0]
    try:
        columns = pg_catalog.table_columns(conn, schema, table)
    except LookupError:
        return None
    infos = tuple(ColumnInfo(c.name, c.type_oid, c.type_modifier, c.type_name, c.optional, c)
                  for c in columns)
    return TableInfo(schema, table, infos, pg_catalog.primary_key(conn, schema, table), str(identity))


Row = dict[str, str | None]  # column name -> the value's text


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    """One row read, with its marker and the tables finished once it is emitted (its own table when it is
    that table's last row, and any empty tables up to the next row)."""

    table: TableInfo
    texts: dict[str, str | None]
    marker: SnapshotMarker
    tables_done: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TablePlan:
    """One table to read, from after ``after_key`` (None: from the start)."""

    info: TableInfo
    after_key: tuple[str | None, ...] | None = None


def begin_snapshot(conn: Any, snapshot_name: str | None) -> None:
    """Open the reading transaction on conn, seeing the exported snapshot (None: a snapshot of now)."""
    with conn.cursor() as cur:
        cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        if snapshot_name is not None:
            cur.execute("SET TRANSACTION SNAPSHOT %s", (snapshot_name,))


def _ident(name: str) -> str:
    return quote_ident(name)


def _literal(sql: str) -> str:
    """SQL text with its % doubled: the statement runs with parameters (format('%s', ...), names with %)."""
    return sql.replace("%", "%%")


def _select(plan: TablePlan, key_types: dict[str, tuple[str, bool]]) -> tuple[str, list[Any]]:
    info = plan.info
    columns = ", ".join(_literal(pg_catalog.text_expression(c.name)) for c in info.columns)
    statement = f"SELECT {columns} FROM {_literal(quote_table(info.qualified))} AS src"
    params: list[Any] = []
    if info.key_columns:
        def collate(name: str) -> str:
            return ' COLLATE "C"' if key_types.get(name, ("", False))[1] else ""

        def keyed(name: str) -> str:  # src.: the table's column, never an output column of that name
            return f"src.{_literal(_ident(name))}" + collate(name)

        if plan.after_key is not None:
            left = ", ".join(keyed(name) for name in info.key_columns)
            right = ", ".join(f"%s::{_literal(key_types[name][0])}{collate(name)}"
                              for name in info.key_columns)
            statement += f" WHERE ({left}) > ({right})"
            params.extend(plan.after_key)
        statement += " ORDER BY " + ", ".join(keyed(name) for name in info.key_columns)
    return statement, params


class SnapshotReader:
    """Reads the planned tables in conn's open snapshot transaction (`begin_snapshot`), a batch per call."""

    def __init__(self, conn: Any, plans: Sequence[TablePlan], batch_rows: int = 2000) -> None:
        self._conn = conn
        self._batch_rows = batch_rows
        self._items = self._iterate(plans)
        self._done_before_first: list[str] = []
        self._pending = self._next_row(self._done_before_first)
        self._first = True
        self.finished = self._pending is None
        self.tables_done_without_rows = tuple(self._done_before_first) if self.finished else ()

    def _key_types(self, info: TableInfo) -> dict[str, tuple[str, bool]]:
        rows = query(self._conn, "SELECT a.attname, a.atttypid::regtype::text, a.attcollation <> 0 "
                                 "FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attnum > 0",
                     (quote_table(info.qualified),))
        return {name: (sql_type, bool(collatable)) for name, sql_type, collatable in rows}

    def _iterate(self, plans: Sequence[TablePlan]) -> Iterator[tuple[TableInfo, Row | None]]:
        """Rows as (table, texts); (table, None) after each table's last row."""
        for index, plan in enumerate(plans):
            statement, params = _select(plan, self._key_types(plan.info))
            names = [c.name for c in plan.info.columns]
            with self._conn.cursor(name=f"streamlog_snapshot_{index}") as cur:
                cur.itersize = self._batch_rows
                cur.execute(statement, params)
                for row in cur:
                    yield plan.info, dict(zip(names, row, strict=True))
            yield plan.info, None

    def _next_row(self, done: list[str]) -> tuple[TableInfo, dict[str, str | None]] | None:
        for info, texts in self._items:
            if texts is None:
                done.append(info.qualified)
                continue
            return info, texts
        return None

    def next_batch(self, max_rows: int) -> list[SnapshotRow]:
        """Up to max_rows rows with their final markers; [] once done (then `finished`)."""
        out: list[SnapshotRow] = []
        while self._pending is not None and len(out) < max_rows:
            info, texts = self._pending
            done: list[str] = []
            following = self._next_row(done)
            if following is None:
                marker = SnapshotMarker.LAST
            elif self._first:
                marker = SnapshotMarker.FIRST
            elif info.qualified in done:
                marker = SnapshotMarker.LAST_IN_DATA_COLLECTION
            elif self._table_changed(info):
                marker = SnapshotMarker.FIRST_IN_DATA_COLLECTION
            else:
                marker = SnapshotMarker.TRUE
            self._first = False
            self._last_table = info.qualified
            out.append(SnapshotRow(info, texts, marker, (*self._done_before_first, *done)))
            self._done_before_first = []
            self._pending = following
        if self._pending is None:
            self.finished = True
        return out

    _last_table: str | None = None

    def _table_changed(self, info: TableInfo) -> bool:
        return self._last_table is not None and self._last_table != info.qualified

    def close(self) -> None:
        try:
            self._conn.rollback()
        finally:
            self._conn.close()
