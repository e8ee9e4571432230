"""Connect schemas as Avro schemas (Confluent's AvroData mapping) and back, without a registry."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from tests.connect.converters.connect_strategies import schemas, schemas_and_values, uniquely_named

from streamlog.connect.api import ConnectError
from streamlog.connect.converters_avrodata import avro_datum, avro_schema, schema_text
from streamlog.connect.converters_avroread import AvroReader, connect_value, without_logical_types
from streamlog.connect.data import (
    FLOAT64,
    INT32,
    INT64,
    OPTIONAL_STRING,
    STRING,
    Schema,
    Type,
    decimal_schema,
    struct,
)

KEY = struct("dbserver1.inventory.customers.Key", [("id", INT32)])
ROW = struct("dbserver1.inventory.customers.Value",
             [("id", INT32), ("email", STRING), ("price", decimal_schema(2, optional=True, precision=10))],
             optional=True)
SNAPSHOT = Schema(Type.STRING, True, "io.debezium.data.Enum", 1,
                  parameters={"allowed": "true,last,false,incremental"}, default="false")
SOURCE = struct("io.debezium.connector.postgresql.Source", [("version", STRING), ("snapshot", SNAPSHOT)])
ENVELOPE = struct("dbserver1.inventory.customers.Envelope",
                  [("before", ROW), ("after", ROW), ("source", SOURCE), ("op", STRING)], version=1)


def text(schema: Schema) -> str:
    return schema_text(avro_schema(schema))


def test_debezium_key_and_envelope() -> None:
    assert text(KEY) == (
        '{"type":"record","name":"Key","namespace":"dbserver1.inventory.customers","fields":[{"name":"id",'
        '"type":"int"}],"connect.name":"dbserver1.inventory.customers.Key"}')
    assert text(ENVELOPE) == (
        '{"type":"record","name":"Envelope","namespace":"dbserver1.inventory.customers","fields":['
        '{"name":"before","type":["null",{"type":"record","name":"Value","fields":[{"name":"id","type":"int"},'
        '{"name":"email","type":"string"},{"name":"price","type":["null",{"type":"bytes","scale":2,'
        '"precision":10,"connect.version":1,"connect.parameters":{"scale":"2","connect.decimal.precision":"10"},'
        '"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}],"default":null}],'
        '"connect.name":"dbserver1.inventory.customers.Value"}],"default":null},'
        '{"name":"after","type":["null","Value"],"default":null},'
        '{"name":"source","type":{"type":"record","name":"Source","namespace":"io.debezium.connector.postgresql",'
        '"fields":[{"name":"version","type":"string"},{"name":"snapshot","type":[{"type":"string",'
        '"connect.version":1,"connect.parameters":{"allowed":"true,last,false,incremental"},'
        '"connect.default":"false","connect.name":"io.debezium.data.Enum"},"null"],"default":"false"}],'
        '"connect.name":"io.debezium.connector.postgresql.Source"}},{"name":"op","type":"string"}],'
        '"connect.version":1,"connect.name":"dbserver1.inventory.customers.Envelope"}')


def test_unnamed_structs_maps_and_small_ints() -> None:
    inner = struct(None, [("a", Schema(Type.INT8)), ("b", Schema(Type.INT16, True))])
    outer = struct(None, [("x", inner), ("y", struct(None, [("c", FLOAT64)])), ("z", inner),
                          ("m", Schema(Type.MAP, keys=INT64, values=STRING)),
                          ("n", Schema(Type.MAP, True, keys=STRING, values=INT32))])
    assert text(outer) == (
        '{"type":"record","name":"ConnectDefault","namespace":"io.confluent.connect.avro","fields":['
        '{"name":"x","type":{"type":"record","name":"ConnectDefault2","fields":[{"name":"a","type":{"type":"int",'
        '"connect.type":"int8"}},{"name":"b","type":["null",{"type":"int","connect.type":"int16"}],'
        '"default":null}]}},{"name":"y","type":{"type":"record","name":"ConnectDefault3","fields":[{"name":"c",'
        '"type":"double"}]}},{"name":"z","type":"ConnectDefault2"},{"name":"m","type":{"type":"array","items":'
        '{"type":"record","name":"MapEntry","fields":[{"name":"key","type":"long"},{"name":"value",'
        '"type":"string"}]}}},{"name":"n","type":["null",{"type":"map","values":"int"}],"default":null}]}')


def test_time_logical_types_and_defaults() -> None:
    schema = struct("t.R", [
        ("d", Schema(Type.INT32, False, "org.apache.kafka.connect.data.Date", 1)),
        ("ts", Schema(Type.INT64, True, "org.apache.kafka.connect.data.Timestamp", 1)),
        ("f", Schema(Type.FLOAT32, default=1.5)), ("b", Schema(Type.BYTES, True, default=b"\x00\xff")),
        ("p", decimal_schema(1, optional=False))])
    assert text(schema) == (
        '{"type":"record","name":"R","namespace":"t","fields":[{"name":"d","type":{"type":"int",'
        '"connect.version":1,"connect.name":"org.apache.kafka.connect.data.Date","logicalType":"date"}},'
        '{"name":"ts","type":["null",{"type":"long","connect.version":1,'
        '"connect.name":"org.apache.kafka.connect.data.Timestamp","logicalType":"timestamp-millis"}],'
        '"default":null},{"name":"f","type":{"type":"float","connect.default":1.5},"default":1.5},'
        '{"name":"b","type":[{"type":"bytes","connect.default":"\\u0000ÿ"},"null"],"default":"\\u0000ÿ"},'
        '{"name":"p","type":{"type":"bytes","scale":1,"precision":64,"connect.version":1,'
        '"connect.parameters":{"scale":"1"},"connect.name":"org.apache.kafka.connect.data.Decimal",'
        '"logicalType":"decimal"}}],"connect.name":"t.R"}')


def test_without_connect_meta_data() -> None:
    """``connect.meta.data=false``: no connect.* properties; logical types and record names stay."""
    schema = struct("m.R", [("s", SNAPSHOT), ("d", decimal_schema(2)), ("i", Schema(Type.INT8))], version=3)
    assert schema_text(avro_schema(schema, connect_meta_data=False)) == (
        '{"type":"record","name":"R","namespace":"m","fields":[{"name":"s","type":["string","null"],'
        '"default":"false"},{"name":"d","type":{"type":"bytes","scale":2,"precision":64,'
        '"logicalType":"decimal"}},{"name":"i","type":"int"}]}')


def test_two_different_structs_of_one_name_are_refused() -> None:
    schema = struct("a.B", [("x", struct("a.C", [("p", INT32)])), ("y", struct("a.C", [("q", INT32)]))])
    with pytest.raises(ConnectError, match=r"Can't redefine: a\.C"):
        avro_schema(schema)


def test_null_values() -> None:
    assert avro_datum(Schema(Type.STRING, True, default="d"), None) == "d"
    assert avro_datum(OPTIONAL_STRING, None) is None
    with pytest.raises(ConnectError, match="x: Found null value for non-optional schema"):
        avro_datum(struct("r", [("x", STRING)]), {"x": None})


def _round_trip(schema: Schema, value: Any) -> tuple[Schema, Any]:
    node = avro_schema(schema)
    parsed = json.loads(schema_text(node))
    writer = fastavro.parse_schema(parsed)
    import io
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, writer, avro_datum(schema, value))
    buffer.seek(0)
    datum = fastavro.schemaless_reader(buffer, fastavro.parse_schema(without_logical_types(parsed)), None)
    read_schema = AvroReader().connect_schema(parsed, version=schema.version)
    return read_schema, connect_value(read_schema, datum)


def test_infinite_default_only_in_connect_default() -> None:
    schema = struct("inf.R", [("f", Schema(Type.FLOAT64, default=float("inf")))])
    assert text(schema) == (
        '{"type":"record","name":"R","namespace":"inf","fields":[{"name":"f","type":{"type":"double",'
        '"connect.default":"Infinity"}}],"connect.name":"inf.R"}')
    assert _round_trip(schema, {"f": 1.0}) == (schema, {"f": 1.0})


def test_decimal_round_trip_beyond_its_precision() -> None:
    schema = decimal_schema(3, precision=4)
    assert _round_trip(schema, Decimal("123456789.125")) == (schema, Decimal("123456789.125"))


@settings(max_examples=300, deadline=None)
@given(schemas_and_values())
def test_round_trip_through_avro(pair: tuple[Schema, Any]) -> None:
    schema, value = pair
    schema = uniquely_named(schema)
    if value is None:
        value = schema.default
    assert _round_trip(schema, value) == (schema, value)


@settings(max_examples=100, deadline=None)
@given(schemas())
def test_schema_text_is_valid_avro(schema: Schema) -> None:
    fastavro.parse_schema(json.loads(text(uniquely_named(schema))))
