"""From a SinkRecord to the row change it makes: which table, which key and value columns, which operation.

Theory of operation (pure: no I/O): `plan(settings, record)` returns a `RowChange` or None (a record that
changes nothing).  The table is ``table.name.format`` with ``${topic}`` replaced.  The key columns follow
``pk.mode`` as Confluent's JDBC sink defines it:

* ``none``: no key columns; every value field is a column (``insert.mode=insert`` only).
* ``kafka``: the record's coordinates, ``__connect_topic`` (text), ``__connect_partition`` (int32),
  ``__connect_offset`` (int64), or the three names ``pk.fields`` gives.
* ``record_key``: the key's fields (all, or those ``pk.fields`` names); a primitive key is one column,
  named by ``pk.fields`` (exactly one name).
* ``record_value``: the value's fields ``pk.fields`` names (all of them when empty).

The value columns are the value's fields that are not key columns, filtered by ``fields.whitelist`` /
``field.include.list`` / ``field.exclude.list`` (entries ``field`` or ``topic:field``).  A record value
must be a struct (or, schemaless, a JSON object); its fields must be primitive (see jdbc_schema.py).

A tombstone (null value) is a DELETE by key when ``delete.enabled``; otherwise Confluent's sink fails on
it (so does this one, saying so), and Debezium's skips it (so does this one under Debezium's class name).
``insert.mode`` picks INSERT, UPSERT or UPDATE for the rest.

A `RowShape` (table, key columns, value columns) is hashable: consecutive changes of the same shape and
operation are written with one prepared statement (`executemany`), as Confluent's sink buffers records
until the schema changes.

`RowPlanner` is `plan` with a cache: records with schemas whose key and value schemas are the same
objects as an earlier record's (the converters hand out one `Schema` object per distinct schema) reuse
that record's shape and only pick their values out by field name.  Schemaless records and tombstones go
through `plan` every time (their columns depend on the values).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from streamlog.connect.api import ConnectError, SinkRecord
from streamlog.connect.data import Schema, Type
from streamlog.connect.sinks.jdbc_config import InsertMode, JdbcSinkSettings, PkMode
from streamlog.connect.sinks.jdbc_schema import Column, ColumnKind, column_of, kind_of_value

KAFKA_PK_COLUMNS: Final = ("__connect_topic", "__connect_partition", "__connect_offset")
_KAFKA_PK_KINDS: Final = (ColumnKind.TEXT, ColumnKind.INT32, ColumnKind.INT64)


class Operation(StrEnum):
    INSERT = "insert"
    UPSERT = "upsert"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class RowShape:
    table: str  # after table.name.format
    key: tuple[Column, ...]
    values: tuple[Column, ...]


@dataclass(frozen=True, slots=True)
class RowChange:
    operation: Operation
    shape: RowShape
    key_values: tuple[Any, ...]
    values: tuple[Any, ...]


def table_name(settings: JdbcSinkSettings, topic: str) -> str:
    return settings.table_name_format.replace("${topic}", topic)


def plan(settings: JdbcSinkSettings, record: SinkRecord) -> RowChange | None:
    where = f"{record.topic}[{record.partition}]@{record.offset}"
    table = table_name(settings, record.topic)
    if record.value is None:
        if not settings.delete_enabled:
            if settings.debezium:
                return None
            raise ConnectError(f"{where}: a tombstone (null value) and delete.enabled=false; set "
                               "delete.enabled=true (with pk.mode=record_key) to delete rows by key")
        key_columns, key_values = _record_key(settings, record, where)
        return RowChange(Operation.DELETE, RowShape(table, key_columns, ()), key_values, ())
    fields = _struct_fields(record.value_schema, record.value, "value", where)
    if settings.pk_mode is PkMode.NONE:
        key_columns, key_values = (), ()
    elif settings.pk_mode is PkMode.KAFKA:
        names = settings.pk_fields or KAFKA_PK_COLUMNS
        key_columns = tuple(Column(name, kind, nullable=False) for name, kind in zip(names, _KAFKA_PK_KINDS,
                                                                                      strict=True))
        key_values = (record.topic, record.partition, record.offset)
    elif settings.pk_mode is PkMode.RECORD_KEY:
        key_columns, key_values = _record_key(settings, record, where)
    else:
        names = settings.pk_fields or tuple(fields)
        missing = [name for name in names if name not in fields]
        if missing:
            raise ConnectError(f"{where}: pk.fields {missing} are not fields of the record value "
                               f"(it has {list(fields)})")
        key_columns = tuple(_key_column(fields[name][0]) for name in names)
        key_values = tuple(fields[name][1] for name in names)
    key_names = {column.name for column in key_columns}
    chosen = [pair for name, pair in fields.items()
              if name not in key_names and _wanted(settings, record.topic, name)]
    shape = RowShape(table, key_columns, tuple(column for column, _ in chosen))
    values = tuple(value for _, value in chosen)
    operation = {InsertMode.INSERT: Operation.INSERT, InsertMode.UPSERT: Operation.UPSERT,
                 InsertMode.UPDATE: Operation.UPDATE}[settings.insert_mode]
    return RowChange(operation, shape, key_values, values)


@dataclass(frozen=True, slots=True)
class _Layout:
    key_schema: Schema | None  # held so that their ids stay unique while cached
    value_schema: Schema
    shape: RowShape
    operation: Operation
    key_source: PkMode
    key_names: tuple[str, ...]
    primitive_key: bool
    value_names: tuple[str, ...]


class RowPlanner:
    """`plan` with a cache of shapes per (topic, key schema, value schema); see the module docstring."""

    MAX_LAYOUTS: Final = 1000

    def __init__(self, settings: JdbcSinkSettings) -> None:
        self.settings = settings
        self._layouts: dict[tuple[str, int, int], _Layout] = {}

    def plan(self, record: SinkRecord) -> RowChange | None:
        value, value_schema, key_schema = record.value, record.value_schema, record.key_schema
        mode = self.settings.pk_mode
        if (value_schema is None or not isinstance(value, Mapping)
                or (mode is PkMode.RECORD_KEY and (key_schema is None or record.key is None))):
            return plan(self.settings, record)
        if mode is not PkMode.RECORD_KEY:
            key_schema = None  # not part of the shape
        cache_key = (record.topic, id(key_schema), id(value_schema))
        layout = self._layouts.get(cache_key)
        if layout is None or layout.key_schema is not key_schema or layout.value_schema is not value_schema:
            change = plan(self.settings, record)
            if change is None:
                return None
            if len(self._layouts) >= self.MAX_LAYOUTS:
                self._layouts.clear()
            primitive = key_schema is not None and key_schema.type is not Type.STRUCT
            self._layouts[cache_key] = _Layout(
                key_schema, value_schema, change.shape, change.operation, mode,
                tuple(c.name for c in change.shape.key), primitive,
                tuple(c.name for c in change.shape.values))
            return change
        values = tuple(value.get(name) for name in layout.value_names)
        if mode is PkMode.KAFKA:
            key_values: tuple[Any, ...] = (record.topic, record.partition, record.offset)
        elif mode is PkMode.RECORD_KEY:
            key = record.key
            if layout.primitive_key:
                key_values = (key,)
            elif isinstance(key, Mapping):
                key_values = tuple(key.get(name) for name in layout.key_names)
            else:
                return plan(self.settings, record)
        elif mode is PkMode.RECORD_VALUE:
            key_values = tuple(value.get(name) for name in layout.key_names)
        else:
            key_values = ()
        return RowChange(layout.operation, layout.shape, key_values, values)


def _key_column(column: Column) -> Column:
    return Column(column.name, column.kind, False, None, column.unit, column.scale, column.variable_scale)


def _wanted(settings: JdbcSinkSettings, topic: str, field: str) -> bool:
    def listed(entries: tuple[str, ...]) -> bool:
        return field in entries or f"{topic}:{field}" in entries

    if settings.fields_include:
        return listed(settings.fields_include)
    return not listed(settings.fields_exclude)


def _record_key(settings: JdbcSinkSettings, record: SinkRecord,
                where: str) -> tuple[tuple[Column, ...], tuple[Any, ...]]:
    if record.key is None:
        raise ConnectError(f"{where}: pk.mode=record_key but the record has a null key")
    primitive = (record.key_schema.type is not Type.STRUCT if record.key_schema is not None
                 else not isinstance(record.key, Mapping))
    if primitive:
        if len(settings.pk_fields) != 1:
            raise ConnectError(f"{where}: the record key is a primitive value, so pk.fields must name "
                               f"exactly one column for it (it names {list(settings.pk_fields)})")
        name = settings.pk_fields[0]
        if record.key_schema is not None:
            column = column_of(name, record.key_schema, f"{where} key", nullable=False)
        else:
            column = Column(name, kind_of_value(record.key), nullable=False)
        return (column,), (record.key,)
    fields = _struct_fields(record.key_schema, record.key, "key", where)
    names = settings.pk_fields or tuple(fields)
    missing = [name for name in names if name not in fields]
    if missing:
        raise ConnectError(f"{where}: pk.fields {missing} are not fields of the record key "
                           f"(it has {list(fields)})")
    return (tuple(_key_column(fields[name][0]) for name in names), tuple(fields[name][1] for name in names))


def _struct_fields(schema: Schema | None, value: Any, what: str, where: str) -> dict[str, tuple[Column, Any]]:
    """Field name → (column, value) of a struct (with a schema) or a JSON object (without)."""
    if schema is not None:
        if schema.type is not Type.STRUCT:
            raise ConnectError(f"{where}: the record {what} has schema type {schema.type.value}; the JDBC "
                               f"sink needs a struct {what} (a JSON object with schemas.enable=true, an Avro "
                               "record)")
        data = value if isinstance(value, Mapping) else {}
        return {f.name: (column_of(f.name, f.schema, f"{where} {what} field {f.name!r}"), data.get(f.name))
                for f in schema.fields}
    if not isinstance(value, Mapping):
        raise ConnectError(f"{where}: the record {what} is a {type(value).__name__} without a schema; the "
                           "JDBC sink needs a struct or a JSON object")
    return {str(name): (Column(str(name), kind_of_value(field_value)), field_value)
            for name, field_value in value.items()}
