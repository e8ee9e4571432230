"""Debezium's Postgres change events as Connect data: key, value envelope, source block, messages, heartbeats.

Theory of operation: pure functions, no I/O.  A captured table is described by `TableInfo` (columns in the
order pgoutput sends them, their types, which form the primary key); `TableSchemas` turns it into the
schemas Debezium writes and builds the values:

* key ``<prefix>.<schema>.<table>.Key``: struct of the primary-key columns (no primary key: no key);
* row ``<prefix>.<schema>.<table>.Value`` (optional struct, one field per captured column);
* envelope ``<prefix>.<schema>.<table>.Envelope`` (version 2), fields in Debezium's order::

      before       Value, optional   the old row (REPLICA IDENTITY FULL) or its key columns (DEFAULT)
      after        Value, optional   the new row
      source       io.debezium.connector.postgresql.Source
      transaction  event.block, optional   {id "txId:LSN", total_order, data_collection_order}
      op           string   c (create), u (update), d (delete), r (read: snapshot), t (truncate)
      ts_ms/ts_us/ts_ns  int64, optional   when the connector processed the event

* source block, field by field::

      version    string   connector version        connector  string  "postgresql"
      name       string   topic.prefix             ts_ms      int64   commit time (snapshot: read time)
      snapshot   string   io.debezium.data.Enum: true|first|first_in_data_collection|
                          last_in_data_collection|last|false|incremental (default false)
      db         string   database name            sequence   string  '["<last lsn_commit>","<lsn>"]'
      ts_us/ts_ns int64   ts_ms in µs / ns         schema, table string
      txId, lsn, xmin  int64, optional

Column values come from their text form (pgoutput's text tuples, and the snapshot's ``::text`` reads),
converted by a `ColumnMapper` (pg_types' type mapping); the unchanged-TOAST marker becomes
``unavailable.value.placeholder``.  Logical messages (``op: m``) go to ``<prefix>.message`` with key
``io.debezium.connector.postgresql.MessageKey {prefix}``; heartbeats to ``__debezium-heartbeat.<prefix>``
with key ``io.debezium.connector.common.ServerNameKey {serverName}`` and value ``...Heartbeat {ts_ms}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from streamlog.connect import data
from streamlog.connect.data import Schema, Type, struct
from streamlog.connect.sources.pg_types_base import ColumnType

CONNECTOR_VERSION: Final = "2.7.0.streamlog"
SOURCE_SCHEMA_NAME: Final = "io.debezium.connector.postgresql.Source"
UNCHANGED_TOAST: Final = object()  # a column pgoutput marked 'u': unchanged TOAST value, not sent


class Op(StrEnum):
    CREATE = "c"
    UPDATE = "u"
    DELETE = "d"
    READ = "r"
    TRUNCATE = "t"
    MESSAGE = "m"


class SnapshotMarker(StrEnum):
    TRUE = "true"
    FIRST = "first"
    FIRST_IN_DATA_COLLECTION = "first_in_data_collection"
    LAST_IN_DATA_COLLECTION = "last_in_data_collection"
    LAST = "last"
    FALSE = "false"
    INCREMENTAL = "incremental"


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    name: str
    type_oid: int
    type_modifier: int
    type_name: str  # pg_type.typname (e.g. "int4", "_text", an enum's name)
    optional: bool = True
    pg_type: ColumnType | None = None  # what pg_types maps (None: unknown, e.g. a column only pgoutput named)


@dataclass(frozen=True, slots=True)
class TableInfo:
    schema: str
    table: str
    columns: tuple[ColumnInfo, ...]
    key_columns: tuple[str, ...]  # primary key, in key order; () when the table has none
    replica_identity: str = "d"  # relreplident: d(efault), n(othing), f(ull), i(ndex)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.table}"


@dataclass(frozen=True, slots=True)
class ColumnMapper:
    """How a column's type becomes a Connect schema, and its text a value (pg_types provides these)."""

    schema: Callable[[ColumnInfo], Schema | None]  # None: the column is not captured
    value: Callable[[ColumnInfo, str], Any]


def _source_schema() -> Schema:
    snapshot = Schema(Type.STRING, True, "io.debezium.data.Enum", 1,
                      parameters={"allowed": ",".join(m.value for m in SnapshotMarker)}, default="false")
    return struct(SOURCE_SCHEMA_NAME, [
        ("version", data.STRING), ("connector", data.STRING), ("name", data.STRING), ("ts_ms", data.INT64),
        ("snapshot", snapshot), ("db", data.STRING), ("sequence", data.OPTIONAL_STRING),
        ("ts_us", data.OPTIONAL_INT64), ("ts_ns", data.OPTIONAL_INT64), ("schema", data.STRING),
        ("table", data.STRING), ("txId", data.OPTIONAL_INT64), ("lsn", data.OPTIONAL_INT64),
        ("xmin", data.OPTIONAL_INT64)])


SOURCE_SCHEMA: Final = _source_schema()
BLOCK_SCHEMA: Final = struct("event.block", [("id", data.STRING), ("total_order", data.INT64),
                                             ("data_collection_order", data.INT64)], optional=True, version=1)


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What the source block says about one event."""

    prefix: str
    db: str
    schema: str
    table: str
    ts_us: int  # commit time (snapshot: read time), µs since the epoch
    snapshot: SnapshotMarker = SnapshotMarker.FALSE
    tx_id: int | None = None
    lsn: int | None = None
    last_commit_lsn: int | None = None

    def to_value(self) -> dict[str, Any]:
        return {"version": CONNECTOR_VERSION, "connector": "postgresql", "name": self.prefix,
                "ts_ms": self.ts_us // 1000, "snapshot": self.snapshot.value, "db": self.db,
                "sequence": json.dumps([None if self.last_commit_lsn is None else str(self.last_commit_lsn),
                                        None if self.lsn is None else str(self.lsn)], separators=(",", ":")),
                "ts_us": self.ts_us, "ts_ns": self.ts_us * 1000, "schema": self.schema, "table": self.table,
                "txId": self.tx_id, "lsn": self.lsn, "xmin": None}


@dataclass(frozen=True, slots=True)
class TransactionBlock:
    id: str  # "txId:LSN"
    total_order: int
    data_collection_order: int


class TableSchemas:
    """The schemas of one table's events and the values built from its rows' text."""

    def __init__(self, info: TableInfo, prefix: str, mapper: ColumnMapper, *,
                 column_filter: Callable[[str], bool] = lambda _name: True,
                 unavailable_placeholder: str = "__debezium_unavailable_value") -> None:
        self.info = info
        self.prefix = prefix
        self.topic = f"{prefix}.{info.schema}.{info.table}"
        self.mapper = mapper
        self.placeholder = unavailable_placeholder
        by_name = {column.name: column for column in info.columns}
        self.value_columns = tuple(
            c for c in info.columns
            if mapper.schema(c) is not None
            and (c.name in info.key_columns or column_filter(f"{info.qualified}.{c.name}")))
        self.key_columns = tuple(by_name[name] for name in info.key_columns if name in by_name)
        key_fields = [(c.name, self._column_schema(c, key=True)) for c in self.key_columns]
        self.key_schema: Schema | None = struct(f"{self.topic}.Key", key_fields) if key_fields else None
        value_fields = [(c.name, self._column_schema(c)) for c in self.value_columns]
        self.value_schema = struct(f"{self.topic}.Value", value_fields, optional=True)
        self.envelope_schema = struct(f"{self.topic}.Envelope", [
            ("before", self.value_schema), ("after", self.value_schema), ("source", SOURCE_SCHEMA),
            ("transaction", BLOCK_SCHEMA), ("op", data.STRING), ("ts_ms", data.OPTIONAL_INT64),
            ("ts_us", data.OPTIONAL_INT64), ("ts_ns", data.OPTIONAL_INT64)], version=2)

    def _column_schema(self, column: ColumnInfo, *, key: bool = False) -> Schema:
        schema = self.mapper.schema(column) or data.OPTIONAL_STRING
        if key and schema.optional:
            return Schema(schema.type, False, schema.name, schema.version, schema.doc, schema.parameters,
                          schema.default, schema.fields, schema.items, schema.keys, schema.values)
        return schema

    def _convert(self, column: ColumnInfo, text: Any) -> Any:
        if text is None:
            return None if column.optional else _fallback(self.mapper.schema(column) or data.OPTIONAL_STRING)
        if text is UNCHANGED_TOAST:
            return self._placeholder_for(column)
        return self.mapper.value(column, text)

    def _placeholder_for(self, column: ColumnInfo) -> Any:
        schema = self.mapper.schema(column) or data.OPTIONAL_STRING
        if schema.type is Type.BYTES:
            return self.placeholder.encode()
        if schema.type is Type.ARRAY and schema.items is not None and schema.items.type is Type.STRING:
            return [self.placeholder]
        if schema.type is Type.STRING:
            return self.placeholder
        return None

    def row(self, texts: Mapping[str, Any]) -> dict[str, Any]:
        """The Value struct from column texts (missing columns → null)."""
        return {c.name: self._convert(c, texts.get(c.name)) for c in self.value_columns}

    def key(self, texts: Mapping[str, Any]) -> dict[str, Any] | None:
        if self.key_schema is None:
            return None
        return {c.name: self._convert(c, texts.get(c.name)) for c in self.key_columns}

    def key_texts(self, texts: Mapping[str, Any]) -> tuple[str | None, ...]:
        return tuple(texts.get(name) for name in self.info.key_columns)

    def envelope(self, op: Op, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None,
                 source: SourceInfo, now_us: int, block: TransactionBlock | None = None) -> dict[str, Any]:
        return {"before": None if before is None else self.row(before),
                "after": None if after is None else self.row(after), "source": source.to_value(),
                "transaction": None if block is None else {
                    "id": block.id, "total_order": block.total_order,
                    "data_collection_order": block.data_collection_order},
                "op": op.value, "ts_ms": now_us // 1000, "ts_us": now_us, "ts_ns": now_us * 1000}


def _fallback(schema: Schema) -> Any:
    """What Debezium puts in a required column whose value the event lacks (a DEFAULT-identity before)."""
    if schema.optional:
        return None
    if schema.default is not None:
        return schema.default
    if schema.name == data.DECIMAL_NAME:
        return Decimal(0)
    empty: dict[Type, Any] = {Type.INT8: 0, Type.INT16: 0, Type.INT32: 0, Type.INT64: 0, Type.FLOAT32: 0.0,
                              Type.FLOAT64: 0.0, Type.BOOLEAN: False, Type.STRING: "", Type.BYTES: b"",
                              Type.ARRAY: [], Type.MAP: {}}
    return empty.get(schema.type)


# -- simple type mapping (used until pg_types' full mapping is plugged in) -------------------------------

_SIMPLE: Final[Mapping[str, Schema]] = {
    "int2": data.INT16, "int4": data.INT32, "int8": data.INT64, "oid": data.INT64, "bool": data.BOOLEAN,
    "float4": data.FLOAT32, "float8": data.FLOAT64, "bytea": data.BYTES}


def simple_schema(column: ColumnInfo) -> Schema:
    schema = _SIMPLE.get(column.type_name, data.STRING)
    return schema.as_optional() if column.optional else schema


def simple_value(column: ColumnInfo, text: str) -> Any:
    kind = _SIMPLE.get(column.type_name, data.STRING).type
    if kind in (Type.INT16, Type.INT32, Type.INT64):
        return int(text)
    if kind is Type.BOOLEAN:
        return text == "t"
    if kind in (Type.FLOAT32, Type.FLOAT64):
        return float(text)
    if kind is Type.BYTES:
        return bytes.fromhex(text[2:])
    return text


SIMPLE_MAPPER: Final = ColumnMapper(simple_schema, simple_value)


# -- messages, heartbeats, transaction metadata ------------------------------------------------------------

MESSAGE_KEY_SCHEMA: Final = struct("io.debezium.connector.postgresql.MessageKey", [("prefix", data.STRING)])
MESSAGE_BLOCK_SCHEMA: Final = struct("io.debezium.connector.postgresql.Message",
                                     [("prefix", data.STRING), ("content", data.OPTIONAL_BYTES)])
MESSAGE_VALUE_SCHEMA: Final = struct("io.debezium.connector.postgresql.MessageValue", [
    ("op", data.STRING), ("ts_ms", data.OPTIONAL_INT64), ("ts_us", data.OPTIONAL_INT64),
    ("ts_ns", data.OPTIONAL_INT64), ("source", SOURCE_SCHEMA), ("message", MESSAGE_BLOCK_SCHEMA)])
HEARTBEAT_KEY_SCHEMA: Final = struct("io.debezium.connector.common.ServerNameKey",
                                     [("serverName", data.STRING)])
HEARTBEAT_VALUE_SCHEMA: Final = struct("io.debezium.connector.common.Heartbeat", [("ts_ms", data.INT64)])
TX_KEY_SCHEMA: Final = struct("io.debezium.connector.common.TransactionMetadataKey", [("id", data.STRING)])
TX_COLLECTION_SCHEMA: Final = struct("event.collection", [("data_collection", data.STRING),
                                                          ("event_count", data.INT64)])
TX_VALUE_SCHEMA: Final = struct("io.debezium.connector.common.TransactionMetadataValue", [
    ("status", data.STRING), ("id", data.STRING), ("event_count", data.OPTIONAL_INT64),
    ("data_collections", Schema(Type.ARRAY, True, items=TX_COLLECTION_SCHEMA)), ("ts_ms", data.INT64)])


def message_value(prefix: str, content: bytes, source: SourceInfo, now_us: int) -> dict[str, Any]:
    return {"op": Op.MESSAGE.value, "ts_ms": now_us // 1000, "ts_us": now_us, "ts_ns": now_us * 1000,
            "source": source.to_value(), "message": {"prefix": prefix, "content": content}}


def transaction_value(status: str, tx_id: str, ts_ms: int,
                      collections: Sequence[tuple[str, int]] | None = None) -> dict[str, Any]:
    if collections is None:
        return {"status": status, "id": tx_id, "event_count": None, "data_collections": None, "ts_ms": ts_ms}
    return {"status": status, "id": tx_id, "event_count": sum(count for _name, count in collections),
            "data_collections": [{"data_collection": name, "event_count": count}
                                 for name, count in collections],
            "ts_ms": ts_ms}
