"""Each PostgreSQL type's Debezium schema and converter (the table is in pg_types.py's docstring).

Theory of operation: `resolve` looks a column's type up by ``typname`` (extension types such as hstore,
ltree and citext have no fixed OID), then by category (enums, arrays), and returns a `Mapping`: the
required schema and a function from one value's text to its Connect value.  Arrays map their element
type the same way and apply its converter to each element of the parsed literal.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

from streamlog.connect import data
from streamlog.connect.data import Schema, Type
from streamlog.connect.sources import pg_types_text as text_forms
from streamlog.connect.sources import pg_types_time as times
from streamlog.connect.sources.pg_types_base import (
    SPECIAL_NUMERIC_STRINGS,
    ColumnType,
    DecimalHandlingMode,
    HstoreHandlingMode,
    IntervalHandlingMode,
    Mapping,
    TimePrecisionMode,
    TypeOptions,
    at_scale,
    binary_schema,
    binary_value,
    hstore_json,
    java_hash_map_order,
    logical,
    numeric_typmod,
    parse_bool,
    special_numeric_error,
    time_precision,
    variable_scale,
)

VARBIT_UNBOUNDED_LENGTH: Final = 2**31 - 1
# Element types whose arrays Debezium leaves out.
UNSUPPORTED_ARRAY_ELEMENTS: Final = frozenset({"money", "name", "interval", "varbit", "xml", "point",
                                               "refcursor"})
STRING_TYPES: Final = frozenset({
    "text", "varchar", "bpchar", "char", "name", "citext", "isbn", "inet", "cidr", "macaddr", "macaddr8",
    "int4range", "int8range", "numrange", "tsrange", "tstzrange", "daterange"})
NAMED_STRING_TYPES: Final = {"json": "io.debezium.data.Json", "jsonb": "io.debezium.data.Json",
                             "xml": "io.debezium.data.Xml", "uuid": "io.debezium.data.Uuid",
                             "ltree": "io.debezium.data.Ltree", "tsvector": "io.debezium.data.TsVector"}
POINT_SCHEMA: Final = data.struct("io.debezium.data.geometry.Point", [
    ("x", data.FLOAT64), ("y", data.FLOAT64), ("wkb", data.OPTIONAL_BYTES), ("srid", data.OPTIONAL_INT32)],
    version=1, doc="Geometry (POINT)")
VARIABLE_SCALE_DECIMAL_SCHEMA: Final = data.struct("io.debezium.data.VariableScaleDecimal", [
    ("scale", data.INT32), ("value", data.BYTES)], version=1, doc="Variable scaled decimal")


def _same(text: str) -> str:
    return text


def resolve(column: ColumnType, options: TypeOptions) -> Mapping | None:
    """The column's mapping under ``options``; None when Debezium leaves such a column out."""
    name = column.type_name
    simple = _SIMPLE.get(name)
    if simple is not None:
        return simple
    if name in STRING_TYPES:
        return Mapping(data.STRING, _same)
    if name in NAMED_STRING_TYPES:
        return Mapping(logical(Type.STRING, NAMED_STRING_TYPES[name]), _same)
    factory = _FACTORIES.get(name)
    if factory is not None:
        return factory(column, options)
    if column.type_category == "E":
        allowed = {"allowed": ",".join(column.enum_values)}
        return Mapping(logical(Type.STRING, "io.debezium.data.Enum", allowed), _same)
    if column.type_category == "A" and column.element_type is not None:
        return _array(column, options)
    if options.include_unknown_datatypes:
        return Mapping(binary_schema(options), lambda text: binary_value(text.encode(), options))
    return None


_SIMPLE: Final = {
    "bool": Mapping(data.BOOLEAN, parse_bool),
    "int2": Mapping(data.INT16, int),
    "int4": Mapping(data.INT32, int),
    "int8": Mapping(data.INT64, int),
    "oid": Mapping(data.INT64, int),
    "float4": Mapping(data.FLOAT32, float),
    "float8": Mapping(data.FLOAT64, float),
    "point": Mapping(POINT_SCHEMA, lambda text: _point(*text_forms.parse_point(text))),
}


def _point(x: float, y: float) -> dict[str, Any]:
    wkb = b"\x01" + (1).to_bytes(4, "little") + _double_le(x) + _double_le(y)
    return {"x": x, "y": y, "wkb": wkb, "srid": None}


def _double_le(value: float) -> bytes:
    return struct.pack("<d", value)


# -- numbers ------------------------------------------------------------------------------------------

def _numeric(column: ColumnType, options: TypeOptions) -> Mapping:
    mode = options.decimal_handling_mode
    if mode == DecimalHandlingMode.DOUBLE:
        return Mapping(data.FLOAT64, float)
    typmod = numeric_typmod(column.type_modifier)
    if mode == DecimalHandlingMode.STRING:
        def as_string(text: str) -> str:
            special = SPECIAL_NUMERIC_STRINGS.get(text)
            if special is not None:
                return special
            value = Decimal(text)
            return str(at_scale(value, typmod[1]) if typmod else value)
        return Mapping(data.STRING, as_string)

    def checked(text: str) -> Decimal:
        if text in SPECIAL_NUMERIC_STRINGS:
            raise special_numeric_error(column, text)
        return Decimal(text)

    if typmod is None:
        return Mapping(VARIABLE_SCALE_DECIMAL_SCHEMA, lambda text: variable_scale(checked(text)))
    precision, scale = typmod
    return Mapping(data.decimal_schema(scale, precision=precision),
                   lambda text: at_scale(checked(text), scale))


def _money(_column: ColumnType, options: TypeOptions) -> Mapping:
    digits = options.money_fraction_digits
    match options.decimal_handling_mode:
        case DecimalHandlingMode.DOUBLE:
            return Mapping(data.FLOAT64, lambda text: float(text_forms.parse_money(text)))
        case DecimalHandlingMode.STRING:
            return Mapping(data.STRING, lambda text: repr(float(text_forms.parse_money(text))))
    return Mapping(data.decimal_schema(digits), lambda text: at_scale(text_forms.parse_money(text), digits))


def _bits(column: ColumnType, _options: TypeOptions) -> Mapping:
    if column.type_modifier > 0:
        length = column.type_modifier
    else:
        length = 1 if column.type_name == "bit" else VARBIT_UNBOUNDED_LENGTH
    if length == 1:
        return Mapping(data.BOOLEAN, lambda text: int(text, 2) != 0)
    return Mapping(logical(Type.BYTES, "io.debezium.data.Bits", {"length": str(length)}),
                   text_forms.bits_to_bytes)


def _bytea(_column: ColumnType, options: TypeOptions) -> Mapping:
    return Mapping(binary_schema(options), lambda text: binary_value(text_forms.parse_bytea(text), options))


def _hstore(_column: ColumnType, options: TypeOptions) -> Mapping:
    if options.hstore_handling_mode == HstoreHandlingMode.MAP:
        return Mapping(Schema(Type.MAP, keys=data.STRING, values=data.OPTIONAL_STRING), _hstore_map)
    return Mapping(logical(Type.STRING, "io.debezium.data.Json"), hstore_json)


def _hstore_map(text: str) -> dict[str, str | None]:
    pairs = text_forms.parse_hstore(text)
    return {key: pairs[key] for key in java_hash_map_order(list(pairs))}


# -- dates and times ----------------------------------------------------------------------------------

def _date(_column: ColumnType, options: TypeOptions) -> Mapping:
    if options.time_precision_mode == TimePrecisionMode.CONNECT:
        return Mapping(logical(Type.INT32, "org.apache.kafka.connect.data.Date"), times.parse_date_days)
    return Mapping(logical(Type.INT32, "io.debezium.time.Date"), times.parse_date_days)


def _time(column: ColumnType, options: TypeOptions) -> Mapping:
    mode = options.time_precision_mode
    if mode == TimePrecisionMode.CONNECT:
        return Mapping(logical(Type.INT32, "org.apache.kafka.connect.data.Time"),
                       lambda text: times.parse_time_micros(text) // 1000)
    if mode == TimePrecisionMode.ADAPTIVE and time_precision(column.type_modifier) <= 3:
        return Mapping(logical(Type.INT32, "io.debezium.time.Time"),
                       lambda text: times.parse_time_micros(text) // 1000)
    return Mapping(logical(Type.INT64, "io.debezium.time.MicroTime"), times.parse_time_micros)


def _timestamp(column: ColumnType, options: TypeOptions) -> Mapping:
    if options.time_precision_mode == TimePrecisionMode.CONNECT:
        return Mapping(logical(Type.INT64, "org.apache.kafka.connect.data.Timestamp"), _timestamp_millis)
    if time_precision(column.type_modifier) <= 3:
        return Mapping(logical(Type.INT64, "io.debezium.time.Timestamp"), _timestamp_millis)
    return Mapping(logical(Type.INT64, "io.debezium.time.MicroTimestamp"), times.parse_timestamp_micros)


def _timestamp_millis(text: str) -> int:
    return times.parse_timestamp_micros(text) // 1000


def _timestamptz(column: ColumnType, _options: TypeOptions) -> Mapping:
    width = time_precision(column.type_modifier)
    return Mapping(logical(Type.STRING, "io.debezium.time.ZonedTimestamp"),
                   lambda text: times.zoned_timestamp(text, width))


def _timetz(_column: ColumnType, _options: TypeOptions) -> Mapping:
    return Mapping(logical(Type.STRING, "io.debezium.time.ZonedTime"), times.zoned_time)


def _interval(_column: ColumnType, options: TypeOptions) -> Mapping:
    if options.interval_handling_mode == IntervalHandlingMode.STRING:
        return Mapping(logical(Type.STRING, "io.debezium.time.Interval"),
                       lambda text: times.interval_iso(times.parse_interval(text)))
    return Mapping(logical(Type.INT64, "io.debezium.time.MicroDuration"),
                   lambda text: times.interval_micros(times.parse_interval(text)))


# -- arrays -------------------------------------------------------------------------------------------

def _array(column: ColumnType, options: TypeOptions) -> Mapping | None:
    element = column.element_type
    assert element is not None
    if element.type_name in UNSUPPORTED_ARRAY_ELEMENTS:
        return None
    if element.type_modifier < 0 and column.type_modifier >= 0:
        # pg_attribute's typmod of an array column is its elements' (numeric(10,2)[] carries 10,2)
        element = ColumnType(element.name, element.type_oid, column.type_modifier, element.type_name,
                             element.type_category, element.element_type, element.enum_values)
    mapping = resolve(element, options)
    if mapping is None:
        return None
    item_schema = mapping.schema if element.type_category == "E" else mapping.schema.as_optional()
    convert = mapping.convert

    def convert_array(text: str) -> list[Any]:
        values: list[Any] = []
        for item in text_forms.parse_array(text):
            if isinstance(item, list):
                raise ValueError(f"column {column.name!r}: multi-dimensional arrays are not supported")
            values.append(None if item is None else convert(item))
        return values

    return Mapping(Schema(Type.ARRAY, items=item_schema), convert_array)


_FACTORIES: Final[dict[str, Callable[[ColumnType, TypeOptions], Mapping | None]]] = {
    "numeric": _numeric, "money": _money, "bit": _bits, "varbit": _bits, "bytea": _bytea, "hstore": _hstore,
    "date": _date, "time": _time, "timestamp": _timestamp, "timestamptz": _timestamptz, "timetz": _timetz,
    "interval": _interval,
}
