"""PostgreSQL column types → Debezium's Kafka Connect schemas and values.

Theory of operation: a captured column is described by a `ColumnType` (from pg_catalog.py: its type's
``typname``, ``typcategory``, modifier, element type for arrays, labels for enums, nullability and
default).  `column_schema` gives the Connect schema Debezium's PostgreSQL connector gives that column under
the connector's options (`TypeOptions`: ``decimal.handling.mode``, ``time.precision.mode``,
``binary.handling.mode``, ``interval.handling.mode``, ``hstore.handling.mode``, ``money.fraction.digits``,
``include.unknown.datatypes``), or None when Debezium leaves the column out.  `column_value` turns one
value, **in the type's text output format** (pgoutput's ``'t'`` column decoded as UTF-8, or a snapshot's
pg_catalog.text_expression's ``format('%s', col)``, or psycopg2 without typecasting; not ``col::text``,
which differs for bool, char(n) and inet), into the Connect value that schema describes.  The
session must use PostgreSQL's default ``DateStyle`` (ISO), ``IntervalStyle`` (postgres), ``bytea_output``
(hex) and ``extra_float_digits`` (1: shortest exact floats); pgoutput's walsender does unless the server's
configuration changes them.  The mapping of one column is worked out once and cached.

Mappings (default options; "!" marks a Debezium option or parameter)::

    bool                         BOOLEAN
    int2 / int4 / int8, oid      INT16 / INT32 / INT64
    float4 / float8              FLOAT32 / FLOAT64 (NaN and ±Infinity as floats)
    numeric(p,s)                 BYTES org.apache.kafka.connect.data.Decimal {scale: s,
                                 connect.decimal.precision: p}, value decimal.Decimal at scale s
    numeric                      STRUCT io.debezium.data.VariableScaleDecimal {scale INT32, value BYTES}
                                 (the value with trailing zeros stripped; value = unscaled two's complement)
      !decimal.handling.mode     double: FLOAT64 (NaN, ±Infinity as floats); string: STRING (NaN → "NAN",
                                 ±Infinity → "POSITIVE_INFINITY"/"NEGATIVE_INFINITY"); precise cannot hold
                                 them: NaN/Infinity is a ConnectError, as in Debezium
    money                        Decimal with scale !money.fraction.digits (2), no precision parameter
    text, varchar, bpchar, "char", name, citext, isbn, inet, cidr, macaddr, macaddr8, int4range,
    int8range, numrange, tsrange, tstzrange, daterange       STRING
    json, jsonb                  STRING io.debezium.data.Json
    xml / uuid / ltree / tsvector   STRING io.debezium.data.Xml / .Uuid / .Ltree / .TsVector
    hstore                       STRING io.debezium.data.Json ({"k":"v","n":null}); !hstore.handling.mode=map:
                                 MAP<STRING, optional STRING>
    enum types                   STRING io.debezium.data.Enum {allowed: "a,b,c"}
    bit(1), varbit(1)            BOOLEAN
    bit(n>1), varbit[(n)]        BYTES io.debezium.data.Bits {length: n (varbit without n: 2147483647)},
                                 the bits' number little-endian in as few bytes as needed
    bytea                        BYTES; !binary.handling.mode base64 / base64-url-safe / hex: STRING
    date                         INT32 io.debezium.time.Date (days)
    time(0-3) / time(4-6), time  INT32 io.debezium.time.Time (ms) / INT64 io.debezium.time.MicroTime (µs)
    timestamp(0-3) / (4-6), timestamp   INT64 io.debezium.time.Timestamp (ms) / MicroTimestamp (µs)
      !time.precision.mode       adaptive_time_microseconds: every time is MicroTime; connect: Kafka
                                 Connect's Date (INT32 days), Time (INT32 ms), Timestamp (INT64 ms)
    timestamptz                  STRING io.debezium.time.ZonedTimestamp ("2024-02-29T10:00:00.000000Z")
    timetz                       STRING io.debezium.time.ZonedTime ("08:15:30Z")
    interval                     INT64 io.debezium.time.MicroDuration; !interval.handling.mode=string:
                                 STRING io.debezium.time.Interval
    point                        STRUCT io.debezium.data.geometry.Point {x, y FLOAT64, wkb optional BYTES
                                 (little-endian WKB point), srid optional INT32 (null)}
    T[]                          ARRAY of T's schema made optional (enum elements stay required, as in
                                 Debezium); arrays of money, name, interval, varbit, xml, point are left
                                 out as Debezium leaves them out
    anything else                left out (None) with a warning; !include.unknown.datatypes=true: the
                                 text's UTF-8 bytes, in the binary handling mode's schema

Infinite dates and timestamps: see pg_types_time.py.  Schema versions and names are Debezium's (version 1
on every io.debezium.* and Connect logical schema; VariableScaleDecimal's doc "Variable scaled decimal";
Point's doc "Geometry (POINT)").

Where this deviates from Debezium (known):

* A column's ``default`` is set only for a constant default (``'x'::type``, a number, true/false);
  Debezium also substitutes 0-like values for some function defaults (``now()``...).  Not done here.
* ``money`` is parsed exactly from text (Debezium goes through a double, which rounds amounts beyond
  2^53 cents); only ``.`` as the decimal point is understood (lc_monetary C or English locales).
* hstore as JSON orders the pairs as Debezium's Java HashMap does, except in the rare bucket of 8 or more
  colliding keys (a tree in Java).
* box, lseg, path, polygon, circle, line and PostGIS types are not mapped (unknown types here; Debezium
  has Geometry/Circle/Line structs for them).  Multi-dimensional arrays raise ValueError.
* Arrays of bit are arrays of the element's schema (Debezium gives them the element's schema itself).
* ``column.propagate.source.type`` parameters (``__debezium.source.column.*``) are not added.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Any, Final

from streamlog.connect.api import ConnectError
from streamlog.connect.data import Schema
from streamlog.connect.sources.pg_types_base import (
    CONFIG_KEYS,
    BinaryHandlingMode,
    ColumnType,
    DecimalHandlingMode,
    HstoreHandlingMode,
    IntervalHandlingMode,
    Mapping,
    TimePrecisionMode,
    TypeOptions,
)
from streamlog.connect.sources.pg_types_map import resolve

log = logging.getLogger(__name__)

__all__ = ["CONFIG_KEYS", "BinaryHandlingMode", "ColumnType", "DecimalHandlingMode", "HstoreHandlingMode",
           "IntervalHandlingMode", "TimePrecisionMode", "TypeOptions", "column_schema", "column_value"]


def column_schema(column: ColumnType, options: TypeOptions) -> Schema | None:
    """The column's Connect schema (optional when the column is, with its constant default), or None
    when the column is not captured."""
    return _column_schema(column, options)


def column_value(column: ColumnType, text: str | None, options: TypeOptions) -> Any:
    """The Connect value of one value in the type's text output format (None stays None).  Raises
    ValueError for text the type's format does not allow, ConnectError for a value the options cannot
    represent (NaN under decimal.handling.mode=precise)."""
    if text is None:
        return None
    mapping = _mapping(column, options)
    if mapping is None:
        raise ValueError(f"column {column.name!r} of type {column.type_name} is not captured")
    return mapping.convert(text)


@lru_cache(maxsize=4096)
def _column_schema(column: ColumnType, options: TypeOptions) -> Schema | None:
    mapping = _mapping(column, options)
    if mapping is None:
        return None
    base = mapping.schema
    default = _default_value(column, mapping)
    return Schema(base.type, column.optional, base.name, base.version, base.doc, base.parameters, default,
                  base.fields, base.items, base.keys, base.values)


# A constant default as pg_get_expr prints it: 'text'::type[::type...], a number (negative ones in
# parentheses), or true/false.
_CONSTANT_DEFAULT: Final = re.compile(
    r"'((?:[^']|'')*)'(?:::[\w .\"\[\]()]+)*"
    r"|\(?(-?[\d.]+(?:e[+-]?\d+)?)\)?(?:::[\w .\"\[\]()]+)*"
    r"|(true|false)", re.IGNORECASE)


def _default_value(column: ColumnType, mapping: Mapping) -> Any:
    if column.default is None:
        return None
    match = _CONSTANT_DEFAULT.fullmatch(column.default.strip())
    if not match:
        return None
    if match[1] is not None:
        literal = match[1].replace("''", "'")
    elif match[2] is not None:
        literal = match[2]
    else:
        literal = match[3].lower()
    try:
        return mapping.convert(literal)
    except (ValueError, ArithmeticError, ConnectError):
        return None


@lru_cache(maxsize=4096)
def _mapping(column: ColumnType, options: TypeOptions) -> Mapping | None:
    mapping = resolve(column, options)
    if mapping is None:
        log.warning("column %r has type %s, which is not supported: it is left out of change events "
                    "(include.unknown.datatypes=true captures its text as bytes)", column.name,
                    column.type_name)
    return mapping
