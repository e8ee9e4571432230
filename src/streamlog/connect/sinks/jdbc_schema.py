"""Connect schemas to SQL columns: the column kinds, their SQL types per dialect, DDL, and value adaptation.

Theory of operation: every column the JDBC sink writes is a `Column` (name, `ColumnKind`, nullable,
default).  The kind comes from the field's Connect schema (`kind_of`): the logical-type name first (Kafka
Connect's Decimal/Date/Time/Timestamp, Debezium's ``io.debezium.time.*``, ``io.debezium.data.Json`` and
``Uuid``), then the primitive type.  A record without a schema (JsonConverter with ``schemas.enable=false``)
gets its kinds guessed from the Python values (`kind_of_value`): bool, int (bigint), float (double), str
(text), bytes, dict/list (JSON), None (text); its non-key columns are always nullable.

The SQL type of a kind is the dialect's (``SQL_TYPES``):

=============  ==================  ==========  ==============================================
kind           PostgreSQL          SQLite      Connect / Debezium sources
=============  ==================  ==========  ==============================================
int8, int16    SMALLINT            INTEGER     int8, int16
int32          INTEGER             INTEGER     int32, io.debezium.time.Year
int64          BIGINT              INTEGER     int64
float32        REAL                REAL        float32
float64        DOUBLE PRECISION    REAL        float64
boolean        BOOLEAN             INTEGER     boolean
text           TEXT                TEXT        string
bytes          BYTEA               BLOB        bytes
decimal        NUMERIC             NUMERIC     Connect Decimal, io.debezium.data.VariableScaleDecimal
date           DATE                DATE        Connect Date, io.debezium.time.Date
time           TIME                TIME        Connect Time, io.debezium.time.Time/MicroTime/NanoTime
timestamp      TIMESTAMP           TIMESTAMP   Connect Timestamp, io.debezium.time.(Micro|Nano)Timestamp
timestamptz    TIMESTAMPTZ         TEXT        io.debezium.time.ZonedTimestamp (ISO-8601 text)
timetz         TIMETZ              TEXT        io.debezium.time.ZonedTime (ISO-8601 text)
json           JSONB               TEXT        io.debezium.data.Json, schemaless dicts/lists
uuid           UUID                TEXT        io.debezium.data.Uuid
=============  ==================  ==========  ==============================================

Temporal values are carried as Connect carries them (days, ms/us/ns since the epoch or midnight) and
turned into `datetime` values here (`to_db_value`), in UTC, as Kafka Connect's ``db.timezone=UTC``; SQLite
stores them as ISO-8601 text (``YYYY-MM-DD``, ``HH:MM:SS[.ffffff]``, ``YYYY-MM-DD HH:MM:SS[.ffffff]``).
Arrays, maps and structs inside a value have no column type (as in Confluent's sink): a clear error says
so, and points at Debezium envelopes, which this sink does not unwrap (ExtractNewRecordState does, on the
source connector).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from streamlog.connect.api import ConnectError
from streamlog.connect.data import DECIMAL_NAME, Schema, Type


class ColumnKind(StrEnum):
    INT8 = "int8"
    INT16 = "int16"
    INT32 = "int32"
    INT64 = "int64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    BOOLEAN = "boolean"
    TEXT = "text"
    BYTES = "bytes"
    DECIMAL = "decimal"
    DATE = "date"
    TIME = "time"
    TIMESTAMP = "timestamp"
    TIMESTAMPTZ = "timestamptz"
    TIMETZ = "timetz"
    JSON = "json"
    UUID = "uuid"


class Dialect(StrEnum):
    POSTGRESQL = "postgresql"
    SQLITE = "sqlite"


SQL_TYPES: Final[Mapping[Dialect, Mapping[ColumnKind, str]]] = {
    Dialect.POSTGRESQL: {
        ColumnKind.INT8: "SMALLINT", ColumnKind.INT16: "SMALLINT", ColumnKind.INT32: "INTEGER",
        ColumnKind.INT64: "BIGINT", ColumnKind.FLOAT32: "REAL", ColumnKind.FLOAT64: "DOUBLE PRECISION",
        ColumnKind.BOOLEAN: "BOOLEAN", ColumnKind.TEXT: "TEXT", ColumnKind.BYTES: "BYTEA",
        ColumnKind.DECIMAL: "NUMERIC", ColumnKind.DATE: "DATE", ColumnKind.TIME: "TIME",
        ColumnKind.TIMESTAMP: "TIMESTAMP", ColumnKind.TIMESTAMPTZ: "TIMESTAMPTZ", ColumnKind.TIMETZ: "TIMETZ",
        ColumnKind.JSON: "JSONB", ColumnKind.UUID: "UUID",
    },
    Dialect.SQLITE: {
        ColumnKind.INT8: "INTEGER", ColumnKind.INT16: "INTEGER", ColumnKind.INT32: "INTEGER",
        ColumnKind.INT64: "INTEGER", ColumnKind.FLOAT32: "REAL", ColumnKind.FLOAT64: "REAL",
        ColumnKind.BOOLEAN: "INTEGER", ColumnKind.TEXT: "TEXT", ColumnKind.BYTES: "BLOB",
        ColumnKind.DECIMAL: "NUMERIC", ColumnKind.DATE: "DATE", ColumnKind.TIME: "TIME",
        ColumnKind.TIMESTAMP: "TIMESTAMP", ColumnKind.TIMESTAMPTZ: "TEXT", ColumnKind.TIMETZ: "TEXT",
        ColumnKind.JSON: "TEXT", ColumnKind.UUID: "TEXT",
    },
}

# logical-type name -> kind; the unit of temporal values (per second) where it matters
_LOGICAL_KINDS: Final[Mapping[str, ColumnKind]] = {
    DECIMAL_NAME: ColumnKind.DECIMAL,
    "io.debezium.data.VariableScaleDecimal": ColumnKind.DECIMAL,
    "org.apache.kafka.connect.data.Date": ColumnKind.DATE,
    "io.debezium.time.Date": ColumnKind.DATE,
    "org.apache.kafka.connect.data.Time": ColumnKind.TIME,
    "io.debezium.time.Time": ColumnKind.TIME,
    "io.debezium.time.MicroTime": ColumnKind.TIME,
    "io.debezium.time.NanoTime": ColumnKind.TIME,
    "org.apache.kafka.connect.data.Timestamp": ColumnKind.TIMESTAMP,
    "io.debezium.time.Timestamp": ColumnKind.TIMESTAMP,
    "io.debezium.time.MicroTimestamp": ColumnKind.TIMESTAMP,
    "io.debezium.time.NanoTimestamp": ColumnKind.TIMESTAMP,
    "io.debezium.time.ZonedTimestamp": ColumnKind.TIMESTAMPTZ,
    "io.debezium.time.ZonedTime": ColumnKind.TIMETZ,
    "io.debezium.data.Json": ColumnKind.JSON,
    "io.debezium.data.Uuid": ColumnKind.UUID,
}
_UNITS_PER_SECOND: Final[Mapping[str, int]] = {
    "io.debezium.time.MicroTime": 1_000_000, "io.debezium.time.NanoTime": 1_000_000_000,
    "io.debezium.time.MicroTimestamp": 1_000_000, "io.debezium.time.NanoTimestamp": 1_000_000_000,
}
_PRIMITIVE_KINDS: Final[Mapping[Type, ColumnKind]] = {
    Type.INT8: ColumnKind.INT8, Type.INT16: ColumnKind.INT16, Type.INT32: ColumnKind.INT32,
    Type.INT64: ColumnKind.INT64, Type.FLOAT32: ColumnKind.FLOAT32, Type.FLOAT64: ColumnKind.FLOAT64,
    Type.BOOLEAN: ColumnKind.BOOLEAN, Type.STRING: ColumnKind.TEXT, Type.BYTES: ColumnKind.BYTES,
}
_EPOCH: Final = dt.datetime(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class Column:
    """One column a record writes.  ``unit`` is a temporal value's units per second (1000 for Connect's
    milliseconds); ``scale`` a Decimal's scale when its value arrives as unscaled bytes."""

    name: str
    kind: ColumnKind
    nullable: bool = True
    default: Any = None
    unit: int = 1000
    scale: int = 0
    variable_scale: bool = False


def kind_of(schema: Schema, where: str) -> ColumnKind:
    """The column kind of a field's schema; ``where`` names the field for the error message."""
    if schema.name is not None and schema.name in _LOGICAL_KINDS:
        return _LOGICAL_KINDS[schema.name]
    kind = _PRIMITIVE_KINDS.get(schema.type)
    if kind is None:
        raise ConnectError(
            f"{where} has type {schema.type.value}, which has no column type in the JDBC sink (fields must "
            "be primitive; a Debezium change event envelope is not unwrapped by the sink: set "
            "io.debezium.transforms.ExtractNewRecordState on the CDC connector)")
    return kind


def column_of(name: str, schema: Schema, where: str, *, nullable: bool | None = None) -> Column:
    kind = kind_of(schema, where)
    scale = int((schema.parameters or {}).get("scale", "0")) if kind is ColumnKind.DECIMAL else 0
    return Column(name, kind, schema.optional if nullable is None else nullable,
                  schema.default if kind in _DEFAULTABLE else None,
                  _UNITS_PER_SECOND.get(schema.name or "", 1000), scale,
                  schema.name == "io.debezium.data.VariableScaleDecimal")


def kind_of_value(value: Any) -> ColumnKind:
    """A column kind guessed from a schemaless value."""
    if isinstance(value, bool):
        return ColumnKind.BOOLEAN
    if isinstance(value, int):
        return ColumnKind.INT64
    if isinstance(value, float):
        return ColumnKind.FLOAT64
    if isinstance(value, Decimal):
        return ColumnKind.DECIMAL
    if isinstance(value, bytes | bytearray):
        return ColumnKind.BYTES
    if isinstance(value, dict | list):
        return ColumnKind.JSON
    return ColumnKind.TEXT


_DEFAULTABLE: Final = frozenset({ColumnKind.INT8, ColumnKind.INT16, ColumnKind.INT32, ColumnKind.INT64,
                                 ColumnKind.FLOAT32, ColumnKind.FLOAT64, ColumnKind.BOOLEAN, ColumnKind.TEXT})


# -- DDL -------------------------------------------------------------------------------------------------

def default_literal(column: Column, dialect: Dialect) -> str | None:
    """The SQL literal of a column's default (primitive kinds only), None when it has none."""
    value = column.default
    if value is None:
        return None
    if isinstance(value, bool):
        if dialect is Dialect.POSTGRESQL:
            return "TRUE" if value else "FALSE"
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def column_definition(column: Column, dialect: Dialect, quoted_name: str, *, primary: bool) -> str:
    parts = [quoted_name, SQL_TYPES[dialect][column.kind]]
    literal = default_literal(column, dialect)
    if literal is not None:
        parts.append(f"DEFAULT {literal}")
    if primary or not column.nullable:
        parts.append("NOT NULL")
    return " ".join(parts)


def missing_column_error(table: str, column: Column) -> ConnectError:
    return ConnectError(
        f"cannot ALTER TABLE {table} to add the missing field {column.name!r}: it is not optional and has "
        "no default value (make the field optional or give it a default, or add the column yourself)")


# -- values ---------------------------------------------------------------------------------------------

_CONVERTED: Final = frozenset({ColumnKind.DECIMAL, ColumnKind.DATE, ColumnKind.TIME, ColumnKind.TIMESTAMP,
                               ColumnKind.JSON, ColumnKind.BYTES})


def needs_conversion(column: Column, dialect: Dialect) -> bool:
    """Whether `to_db_value` may change a value of this column (else the driver takes it as it is)."""
    return column.kind in _CONVERTED or (dialect is Dialect.SQLITE and column.kind is ColumnKind.TEXT)


def to_db_value(column: Column, value: Any, dialect: Dialect) -> Any:
    """A record's field value as the DB-API driver binds it for this column."""
    if value is None:
        return None
    kind = column.kind
    converted: Any = value
    if kind is ColumnKind.DECIMAL:
        converted = _decimal(column, value)
    elif kind is ColumnKind.DATE:
        converted = _date(value)
    elif kind is ColumnKind.TIME:
        converted = _time(value, column.unit)
    elif kind is ColumnKind.TIMESTAMP:
        converted = _timestamp(value, column.unit)
    elif kind is ColumnKind.JSON and not isinstance(value, str):
        converted = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    elif kind is ColumnKind.BYTES and isinstance(value, bytearray | memoryview):
        converted = bytes(value)
    if dialect is Dialect.SQLITE:
        if isinstance(converted, Decimal):
            return str(converted)
        if isinstance(converted, dt.datetime):
            return converted.isoformat(sep=" ")
        if isinstance(converted, dt.date | dt.time):
            return converted.isoformat()
        if isinstance(converted, dict | list):
            return json.dumps(converted, separators=(",", ":"), ensure_ascii=False)
    return converted


def _decimal(column: Column, value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if column.variable_scale and isinstance(value, Mapping):  # Debezium: {"scale": int32, "value": bytes}
        return _unscaled(value["value"], int(value["scale"]))
    if isinstance(value, bytes | bytearray):
        return _unscaled(bytes(value), column.scale)
    return Decimal(str(value))


def _unscaled(data: Any, scale: int) -> Decimal:
    raw = data if isinstance(data, bytes | bytearray) else bytes(data)
    return Decimal(int.from_bytes(raw, "big", signed=True)).scaleb(-scale)


def _date(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, int):
        return (_EPOCH + dt.timedelta(days=value)).date()
    return value


def _time(value: Any, unit: int) -> Any:
    if isinstance(value, int):
        micros = value * 1_000_000 // unit
        return (_EPOCH + dt.timedelta(microseconds=micros)).time()
    return value


def _timestamp(value: Any, unit: int) -> Any:
    if isinstance(value, int):
        return _EPOCH + dt.timedelta(microseconds=value * 1_000_000 // unit)
    return value
