"""Column types, primary keys and type details read from PostgreSQL's catalog, for the type mapping.

Theory of operation: pg_types.py maps a column by its type's ``typname`` and ``typcategory`` (plus the
element type of an array and the labels of an enum); pgoutput's Relation message carries only a type OID
and modifier per column, and a snapshot needs the table's columns in order.  This module reads them:

* `table_columns` — a table's columns in ``attnum`` order (dropped and generated columns left out, as
  pgoutput leaves them out), with nullability and the default's expression (``pg_get_expr``);
* `primary_key` — the primary key's column names in key order (empty when the table has none);
* `column_type` — one column described from a type OID and modifier (what a Relation message gives);
* `text_expression` — SQL selecting a column in its type's text output format (what pgoutput sends), for
  snapshots: ``format('%s', col)``, not ``col::text`` (a cast is not always the output format).

Type details are cached per connection DSN and type OID (`TypeDetails`); call `forget_types` when the
catalog may have changed under the cache (pgoutput sends a Type message before a Relation that uses a
non-built-in type, e.g. after ``ALTER TYPE ... ADD VALUE``).  A domain is described by its base type (a
domain's own type modifier applies when the column has none), so it maps as that type does; ``type_oid``
stays the column's declared type.  The functions run plain catalog queries on the connection they are
given and neither commit nor roll back, so they work inside a snapshot's transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from streamlog.connect.sources.pg_types import ColumnType

_TYPE_QUERY: Final = """
SELECT t.typname, t.typcategory, t.typtype, t.typelem, t.typbasetype, t.typtypmod,
       ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder)
FROM pg_type t WHERE t.oid = %s
"""

_COLUMNS_QUERY: Final = """
SELECT a.attname, a.atttypid, a.atttypmod, NOT a.attnotnull, pg_get_expr(d.adbin, d.adrelid)
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
ORDER BY a.attnum
"""

_TABLE_EXISTS_QUERY: Final = """
SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s
"""

_PRIMARY_KEY_QUERY: Final = """
SELECT a.attname
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
WHERE n.nspname = %s AND c.relname = %s AND i.indisprimary
ORDER BY array_position(i.indkey::int2[], a.attnum)
"""


@dataclass(frozen=True, slots=True)
class TypeDetails:
    """What the mapping needs of one pg_type row (a domain already replaced by its base type)."""

    oid: int
    name: str  # typname
    category: str  # typcategory
    element_oid: int  # typelem of an array type, else 0
    enum_values: tuple[str, ...]
    domain_type_modifier: int  # a domain's typtypmod (-1 otherwise)


_cache: dict[tuple[str, int], TypeDetails] = {}
_cache_lock = threading.Lock()


def _query(conn: Any, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with conn.cursor() as cursor:
        cursor.execute(sql, tuple(params))
        return list(cursor.fetchall())


def _dsn(conn: Any) -> str:
    return str(getattr(conn, "dsn", id(conn)))


def type_details(conn: Any, type_oid: int) -> TypeDetails:
    """The details of a type (cached); a domain resolves to its base type's details."""
    key = (_dsn(conn), type_oid)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    details = _read_type(conn, type_oid, -1, depth=0)
    with _cache_lock:
        _cache[key] = details
    return details


def _read_type(conn: Any, type_oid: int, domain_modifier: int, depth: int) -> TypeDetails:
    rows = _query(conn, _TYPE_QUERY, (type_oid,))
    if not rows:
        raise LookupError(f"type OID {type_oid} is not in pg_type")
    name, category, kind, element_oid, base_oid, type_modifier, labels = rows[0]
    if kind == "d" and base_oid and depth < 32:
        modifier = domain_modifier if domain_modifier >= 0 else int(type_modifier)
        return _read_type(conn, int(base_oid), modifier, depth + 1)
    return TypeDetails(type_oid, str(name), str(category), int(element_oid or 0),
                       tuple(str(label) for label in labels or ()), domain_modifier)


def forget_types(conn: Any | None = None) -> None:
    """Drop cached type details (of one connection's database, or all)."""
    with _cache_lock:
        if conn is None:
            _cache.clear()
            return
        dsn = _dsn(conn)
        for key in [key for key in _cache if key[0] == dsn]:
            del _cache[key]


def column_type(conn: Any, type_oid: int, type_modifier: int, name: str, optional: bool = True,
                default: str | None = None) -> ColumnType:
    """A column of type ``type_oid`` with modifier ``type_modifier`` (atttypmod, -1 for none)."""
    details = type_details(conn, type_oid)
    modifier = type_modifier if type_modifier >= 0 else details.domain_type_modifier
    element: ColumnType | None = None
    if details.category == "A" and details.element_oid:
        element = column_type(conn, details.element_oid, modifier, name)
    return ColumnType(name, type_oid, modifier, details.name, details.category, element,
                      details.enum_values, optional, default)


def table_columns(conn: Any, schema: str, table: str) -> tuple[ColumnType, ...]:
    """The table's columns in attnum order, dropped and generated ones left out.  LookupError when the
    table does not exist."""
    rows = _query(conn, _COLUMNS_QUERY, (schema, table))
    if not rows and not _query(conn, _TABLE_EXISTS_QUERY, (schema, table)):
        raise LookupError(f"table {schema}.{table} does not exist")
    return tuple(column_type(conn, int(type_oid), int(type_modifier), str(name), bool(optional),
                             None if default is None else str(default))
                 for name, type_oid, type_modifier, optional, default in rows)


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def text_expression(column: str) -> str:
    """SQL for a column's value in its type's text output format, as pgoutput sends it (NULL stays NULL),
    for a snapshot's SELECT.  Not ``col::text``: that cast differs from the output format for some types
    (``true::text`` is 'true' where the output is 't'; char(n) loses its padding; inet gains a /32)."""
    quoted = quote_ident(column)
    return f"CASE WHEN {quoted} IS NULL THEN NULL ELSE format('%s', {quoted}) END"


def primary_key(conn: Any, schema: str, table: str) -> tuple[str, ...]:
    """The primary key's columns in key order; () when the table has no primary key."""
    return tuple(str(row[0]) for row in _query(conn, _PRIMARY_KEY_QUERY, (schema, table)))
