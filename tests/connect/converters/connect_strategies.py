"""Hypothesis strategies for Connect schemas and values that fit them (every `Type`, logical types,
optional / default / name / version / doc / parameters), shared by the converter tests."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from streamlog.connect.data import DECIMAL_NAME, Field, Schema, Type

IDENTIFIER = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
FULL_NAME = st.lists(IDENTIFIER, min_size=1, max_size=3).map(".".join)
TEXT = st.text(max_size=12)

INT_RANGES = {Type.INT8: 8, Type.INT16: 16, Type.INT32: 32, Type.INT64: 64}
SIMPLE_TYPES = [Type.INT8, Type.INT16, Type.INT32, Type.INT64, Type.FLOAT32, Type.FLOAT64, Type.BOOLEAN,
                Type.STRING, Type.BYTES]


def _decimal_of(unscaled: int, scale: int) -> Decimal:
    digits = tuple(int(d) for d in str(abs(unscaled)))
    return Decimal((1 if unscaled < 0 else 0, digits, -scale))


@st.composite
def _decorated(draw: st.DrawFn, kind: Type, *, names: bool) -> Schema:
    """A primitive schema, optionally with a name, version, doc and parameters."""
    name = draw(st.none() | FULL_NAME) if names else None
    version = draw(st.none() | st.integers(1, 9))
    doc = draw(st.none() | TEXT)
    parameters = draw(st.none() | st.dictionaries(IDENTIFIER, TEXT, max_size=2))
    return Schema(kind, draw(st.booleans()), name, version, doc, parameters)


def decimal_schemas(*, precision: bool = True) -> st.SearchStrategy[Schema]:
    @st.composite
    def build(draw: st.DrawFn) -> Schema:
        scale = draw(st.integers(0, 8))
        params = {"scale": str(scale)}
        if precision and draw(st.booleans()):
            params["connect.decimal.precision"] = str(draw(st.integers(max(scale, 1), 40)))
        return Schema(Type.BYTES, draw(st.booleans()), DECIMAL_NAME, 1, parameters=params)
    return build()


def time_schemas() -> st.SearchStrategy[Schema]:
    return st.sampled_from([
        Schema(Type.INT32, False, "org.apache.kafka.connect.data.Date", 1),
        Schema(Type.INT32, True, "org.apache.kafka.connect.data.Time", 1),
        Schema(Type.INT64, False, "org.apache.kafka.connect.data.Timestamp", 1),
        Schema(Type.INT64, True, "io.debezium.time.MicroTimestamp", 1),
    ])


def primitive_schemas(*, names: bool = True, precision: bool = True,
                      times: bool = True) -> st.SearchStrategy[Schema]:
    """Primitive schemas; ``precision``: Decimals may carry a precision (the values may exceed it);
    ``times``: Connect's Date/Time/Timestamp and Debezium's MicroTimestamp among them."""
    plain = st.sampled_from(SIMPLE_TYPES).flatmap(lambda kind: _decorated(kind, names=names))
    if times:
        return plain | decimal_schemas(precision=precision) | time_schemas()
    return plain | decimal_schemas(precision=precision)


def _with_default(draw: st.DrawFn, schema: Schema) -> Schema:
    if schema.type in (Type.ARRAY, Type.MAP, Type.STRUCT) or not draw(st.booleans()):
        return schema
    required = Schema(schema.type, False, schema.name, schema.version, schema.doc, schema.parameters)
    default = draw(values(required))
    return Schema(schema.type, schema.optional, schema.name, schema.version, schema.doc, schema.parameters,
                  default)


@st.composite
def _composite(draw: st.DrawFn, children: st.SearchStrategy[Schema]) -> Schema:
    kind = draw(st.sampled_from([Type.ARRAY, Type.MAP, Type.STRUCT]))
    optional = draw(st.booleans())
    if kind is Type.ARRAY:
        return Schema(Type.ARRAY, optional, items=draw(children))
    if kind is Type.MAP:
        key_type = draw(st.sampled_from([Type.STRING, Type.STRING, Type.INT32, Type.INT64, Type.BYTES]))
        return Schema(Type.MAP, optional, keys=Schema(key_type), values=draw(children))
    names = draw(st.lists(IDENTIFIER, min_size=0, max_size=4, unique=True))
    fields = tuple(Field(name, draw(children)) for name in names)
    return Schema(Type.STRUCT, optional, draw(st.none() | FULL_NAME), draw(st.none() | st.integers(1, 3)),
                  draw(st.none() | TEXT), fields=fields)


def schemas(*, defaults: bool = True, precision: bool = True,
            times: bool = True) -> st.SearchStrategy[Schema]:
    """Any schema: primitives and nested arrays, maps and structs (with defaults on primitives)."""
    @st.composite
    def leaf(draw: st.DrawFn) -> Schema:
        schema = draw(primitive_schemas(precision=precision, times=times))
        return _with_default(draw, schema) if defaults else schema
    return st.recursive(leaf(), _composite, max_leaves=8)


def values(schema: Schema) -> st.SearchStrategy[Any]:
    """Values of ``schema``; None only where the schema is optional and has no default."""
    inner = _required_values(schema)
    if schema.optional and schema.default is None:
        return st.none() | inner
    return inner


def _required_values(schema: Schema) -> st.SearchStrategy[Any]:
    kind = schema.type
    if schema.name == DECIMAL_NAME:
        scale = int((schema.parameters or {})["scale"])
        return st.integers(-(10 ** 30), 10 ** 30).map(lambda unscaled: _decimal_of(unscaled, scale))
    if kind in INT_RANGES:
        bits = INT_RANGES[kind]
        return st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    if kind is Type.FLOAT32:
        return st.floats(width=32, allow_nan=False)
    if kind is Type.FLOAT64:
        return st.floats(allow_nan=False)
    if kind is Type.BOOLEAN:
        return st.booleans()
    if kind is Type.STRING:
        return st.text(max_size=20)
    if kind is Type.BYTES:
        return st.binary(max_size=20)
    if kind is Type.ARRAY:
        assert schema.items is not None
        return st.lists(values(schema.items), max_size=3)
    if kind is Type.MAP:
        assert schema.keys is not None and schema.values is not None
        return st.dictionaries(_required_values(schema.keys), values(schema.values), max_size=3)
    return st.fixed_dictionaries({f.name: values(f.schema) for f in schema.fields})


def schemas_and_values(*, defaults: bool = True, precision: bool = True,
                       times: bool = True) -> st.SearchStrategy[tuple[Schema, Any]]:
    return schemas(defaults=defaults, precision=precision, times=times).flatmap(
        lambda schema: st.tuples(st.just(schema), values(schema)))


def uniquely_named(schema: Schema, counter: itertools.count[int] | None = None) -> Schema:
    """The schema with every named struct renamed ``ns.Rec<n>`` and every map with other than string keys
    named ``ns.Map<n>``: Avro needs distinct record names (Confluent's AvroData fails on two different
    unnamed maps of that kind, both ``MapEntry`` records, as it fails here).  Empty parameters become
    None, as AvroData leaves out an empty ``connect.parameters``."""
    counter = counter if counter is not None else itertools.count()
    items = uniquely_named(schema.items, counter) if schema.items is not None else None
    keys = uniquely_named(schema.keys, counter) if schema.keys is not None else None
    vals = uniquely_named(schema.values, counter) if schema.values is not None else None
    fields = tuple(Field(f.name, uniquely_named(f.schema, counter)) for f in schema.fields)
    name = schema.name
    if schema.type is Type.STRUCT and name is not None:
        name = f"ns.Rec{next(counter)}"
    if schema.type is Type.MAP and keys is not None and keys.type is not Type.STRING:
        name = f"ns.Map{next(counter)}"  # unnamed, all would be io.confluent.connect.avro.MapEntry
    return Schema(schema.type, schema.optional, name, schema.version, schema.doc, schema.parameters or None,
                  schema.default, fields, items, keys, vals)
