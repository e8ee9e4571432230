"""JsonConverter: Kafka's exact bytes (a Debezium tutorial message, Java's number text), round trips of
every type with and without the schema envelope, nulls and tombstones, defaults, and bad input."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.connect.converters.connect_strategies import schemas_and_values

from streamlog.connect.api import ConnectError
from streamlog.connect.converters import make_converter
from streamlog.connect.converters_json import JsonConverter
from streamlog.connect.converters_jsontext import java_double, java_float, json_string
from streamlog.connect.data import (
    BOOLEAN,
    FLOAT64,
    INT32,
    INT64,
    OPTIONAL_INT64,
    OPTIONAL_STRING,
    STRING,
    Schema,
    Type,
    decimal_schema,
    struct,
)

# A record of Debezium's 1.8 tutorial (MySQL, dbserver1.inventory.customers, snapshot read of row 1001) as
# Kafka's JsonConverter wrote it, taken from a console consumer's output.
TUTORIAL_KEY = (
    b'{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false,'
    b'"name":"dbserver1.inventory.customers.Key"},"payload":{"id":1001}}')
TUTORIAL_VALUE = (
    b'{"schema":{"type":"struct","fields":[{"type":"struct","fields":[{"type":"int32","optional":false,'
    b'"field":"id"},{"type":"string","optional":false,"field":"first_name"},{"type":"string","optional":false,'
    b'"field":"last_name"},{"type":"string","optional":false,"field":"email"}],"optional":true,'
    b'"name":"dbserver1.inventory.customers.Value","field":"before"},{"type":"struct","fields":[{"type":"int32",'
    b'"optional":false,"field":"id"},{"type":"string","optional":false,"field":"first_name"},{"type":"string",'
    b'"optional":false,"field":"last_name"},{"type":"string","optional":false,"field":"email"}],"optional":true,'
    b'"name":"dbserver1.inventory.customers.Value","field":"after"},{"type":"struct","fields":[{"type":"string",'
    b'"optional":false,"field":"version"},{"type":"string","optional":false,"field":"connector"},'
    b'{"type":"string","optional":false,"field":"name"},{"type":"int64","optional":false,"field":"ts_ms"},'
    b'{"type":"string","optional":true,"name":"io.debezium.data.Enum","version":1,"parameters":'
    b'{"allowed":"true,last,false,incremental"},"default":"false","field":"snapshot"},{"type":"string",'
    b'"optional":false,"field":"db"},{"type":"string","optional":true,"field":"sequence"},{"type":"string",'
    b'"optional":true,"field":"table"},{"type":"int64","optional":false,"field":"server_id"},{"type":"string",'
    b'"optional":true,"field":"gtid"},{"type":"string","optional":false,"field":"file"},{"type":"int64",'
    b'"optional":false,"field":"pos"},{"type":"int32","optional":false,"field":"row"},{"type":"int64",'
    b'"optional":true,"field":"thread"},{"type":"string","optional":true,"field":"query"}],"optional":false,'
    b'"name":"io.debezium.connector.mysql.Source","field":"source"},{"type":"string","optional":false,'
    b'"field":"op"},{"type":"int64","optional":true,"field":"ts_ms"},{"type":"struct","fields":[{"type":"string",'
    b'"optional":false,"field":"id"},{"type":"int64","optional":false,"field":"total_order"},{"type":"int64",'
    b'"optional":false,"field":"data_collection_order"}],"optional":true,"field":"transaction"}],'
    b'"optional":false,"name":"dbserver1.inventory.customers.Envelope"},"payload":{"before":null,"after":'
    b'{"id":1001,"first_name":"Sally","last_name":"Thomas","email":"sally.thomas@acme.com"},"source":'
    b'{"version":"1.8.0.Final","connector":"mysql","name":"dbserver1","ts_ms":1643250617084,"snapshot":"true",'
    b'"db":"inventory","sequence":null,"table":"customers","server_id":0,"gtid":null,"file":"mysql-bin.000003",'
    b'"pos":156,"row":0,"thread":null,"query":null},"op":"r","ts_ms":1643250617086,"transaction":null}}')

ROW = struct("dbserver1.inventory.customers.Value",
             [("id", INT32), ("first_name", STRING), ("last_name", STRING), ("email", STRING)], optional=True)
SNAPSHOT = Schema(Type.STRING, True, "io.debezium.data.Enum", 1,
                  parameters={"allowed": "true,last,false,incremental"}, default="false")
SOURCE = struct("io.debezium.connector.mysql.Source", [
    ("version", STRING), ("connector", STRING), ("name", STRING), ("ts_ms", INT64), ("snapshot", SNAPSHOT),
    ("db", STRING), ("sequence", OPTIONAL_STRING), ("table", OPTIONAL_STRING), ("server_id", INT64),
    ("gtid", OPTIONAL_STRING), ("file", STRING), ("pos", INT64), ("row", INT32), ("thread", OPTIONAL_INT64),
    ("query", OPTIONAL_STRING)])
TRANSACTION = struct(None, [("id", STRING), ("total_order", INT64), ("data_collection_order", INT64)],
                     optional=True)
ENVELOPE = struct("dbserver1.inventory.customers.Envelope", [
    ("before", ROW), ("after", ROW), ("source", SOURCE), ("op", STRING), ("ts_ms", OPTIONAL_INT64),
    ("transaction", TRANSACTION)])
KEY = struct("dbserver1.inventory.customers.Key", [("id", INT32)])
ENVELOPE_VALUE = {
    "before": None,
    "after": {"id": 1001, "first_name": "Sally", "last_name": "Thomas", "email": "sally.thomas@acme.com"},
    "source": {"version": "1.8.0.Final", "connector": "mysql", "name": "dbserver1", "ts_ms": 1643250617084,
               "snapshot": "true", "db": "inventory", "sequence": None, "table": "customers", "server_id": 0,
               "gtid": None, "file": "mysql-bin.000003", "pos": 156, "row": 0, "thread": None, "query": None},
    "op": "r", "ts_ms": 1643250617086, "transaction": None}


def converter(is_key: bool = False, **options: str) -> JsonConverter:
    made = make_converter("org.apache.kafka.connect.json.JsonConverter",
                          {k.replace("_", "."): v for k, v in options.items()}, is_key)
    assert isinstance(made, JsonConverter)
    return made


def test_debezium_tutorial_record_byte_for_byte() -> None:
    assert converter(True).from_connect("dbserver1.inventory.customers", KEY, {"id": 1001}) == TUTORIAL_KEY
    written = converter().from_connect("dbserver1.inventory.customers", ENVELOPE, ENVELOPE_VALUE)
    assert written == TUTORIAL_VALUE


def test_debezium_tutorial_record_read_back() -> None:
    assert converter(True).to_connect("t", TUTORIAL_KEY) == (KEY, {"id": 1001})
    assert converter().to_connect("t", TUTORIAL_VALUE) == (ENVELOPE, ENVELOPE_VALUE)
    # the same record pretty-printed (not laid out as written here) reads the same
    pretty = json.dumps(json.loads(TUTORIAL_VALUE), indent=2).encode()
    assert converter().to_connect("t", pretty) == (ENVELOPE, ENVELOPE_VALUE)


def test_schemas_disabled_writes_the_payload_alone() -> None:
    plain = converter(schemas_enable="false").from_connect("t", ENVELOPE, ENVELOPE_VALUE)
    assert plain is not None
    assert json.loads(plain) == json.loads(TUTORIAL_VALUE)["payload"]
    assert plain == TUTORIAL_VALUE[TUTORIAL_VALUE.index(b',"payload":') + 11:-1]


@pytest.mark.parametrize(("value", "double", "single"), [
    (1.0, "1.0", "1.0"), (100.0, "100.0", "100.0"), (0.001, "0.001", "0.001"), (0.0001, "1.0E-4", "1.0E-4"),
    (9999999.0, "9999999.0", "9999999.0"), (1e7, "1.0E7", "1.0E7"), (-2.5e-10, "-2.5E-10", "-2.5E-10"),
    (0.1, "0.1", "0.1"), (1 / 3, "0.3333333333333333", "0.33333334"),
    (123456789.0, "1.23456789E8", "1.2345679E8"), (-0.0, "-0.0", "-0.0"), (5e-324, "4.9E-324", "0.0"),
    (1.7976931348623157e308, "1.7976931348623157E308", '"Infinity"'),
    (3.4028234663852886e38, "3.4028234663852886E38", "3.4028235E38"),  # the largest float32
    (math.inf, '"Infinity"', '"Infinity"'), (-math.inf, '"-Infinity"', '"-Infinity"'),
    (math.nan, '"NaN"', '"NaN"'),
])
def test_numbers_as_java_prints_them(value: float, double: str, single: str) -> None:
    """Double.toString / Float.toString (Jackson quotes the non-finite ones)."""
    assert java_double(value) == double
    assert java_float(value) == single


def test_strings_escaped_as_jackson_escapes_them() -> None:
    expected = '"a\\"b\\\\c\\n\\t\\r\\b\\f\\u0001\\u001F\x7f/é€😀"'
    assert json_string('a"b\\c\n\t\r\b\f\x01\x1f\x7f/é€😀') == expected


def test_decimal_base64_and_numeric() -> None:
    schema = struct("d", [("price", decimal_schema(2)), ("neg", decimal_schema(0)),
                          ("wide", decimal_schema(3))])
    value = {"price": Decimal("12.5"), "neg": Decimal(-128), "wide": Decimal("-0.001")}
    assert converter(schemas_enable="false").from_connect("t", schema, value) == (
        b'{"price":"BOI=","neg":"gA==","wide":"/w=="}')  # 1250 = 04 E2; -128 = 80; -1 = FF
    numeric = converter(schemas_enable="false", decimal_format="NUMERIC")
    assert numeric.from_connect("t", schema, value) == b'{"price":12.50,"neg":-128,"wide":-0.001}'
    both = converter(decimal_format="numeric")
    data = both.from_connect("t", schema, value)
    assert both.to_connect("t", data) == (schema, value)
    with pytest.raises(ConnectError, match="mismatching scale"):
        converter().from_connect("t", decimal_schema(1), Decimal("1.25"))


def test_null_tombstone_and_optional() -> None:
    json_converter = converter()
    assert json_converter.from_connect("t", None, None) is None  # a tombstone
    assert json_converter.to_connect("t", None) == (None, None)
    optional = struct("v", [("a", INT32)], optional=True)
    assert json_converter.from_connect("t", optional, None) == (
        b'{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"a"}],"optional":true,'
        b'"name":"v"},"payload":null}')
    assert converter(schemas_enable="false").from_connect("t", optional, None) == b"null"
    with pytest.raises(ConnectError, match="null value for field that is required"):
        json_converter.from_connect("t", INT32, None)
    with pytest.raises(ConnectError, match="a: Conversion error: null value"):
        json_converter.from_connect("t", struct("v", [("a", INT32)]), {"a": None})


def test_null_replaced_by_default_unless_told_not_to() -> None:
    schema = struct("v", [("s", Schema(Type.STRING, True, default="dflt")), ("n", OPTIONAL_INT64)])
    assert converter(schemas_enable="false").from_connect("t", schema, {"s": None, "n": None}) == (
        b'{"s":"dflt","n":null}')
    kept = converter(schemas_enable="false", replace_null_with_default="false")
    assert kept.from_connect("t", schema, {"s": None}) == b'{"s":null,"n":null}'
    assert kept.to_connect("t", b'{"s":null}') == (None, {"s": None})
    enveloped = converter()
    data = b'{"schema":{"type":"string","optional":true,"default":"x"},"payload":null}'
    assert enveloped.to_connect("t", data) == (Schema(Type.STRING, True, default="x"), "x")
    assert converter(replace_null_with_default="false").to_connect("t", data)[1] is None


def test_maps_as_objects_or_pairs() -> None:
    by_string = Schema(Type.MAP, keys=STRING, values=INT32)
    by_int = Schema(Type.MAP, keys=INT32, values=BOOLEAN)
    plain = converter(schemas_enable="false")
    assert plain.from_connect("t", by_string, {"a": 1, "b": 2}) == b'{"a":1,"b":2}'
    assert plain.from_connect("t", by_int, {1: True, 2: False}) == b"[[1,true],[2,false]]"
    written = converter().from_connect("t", by_int, {1: True})
    assert converter().to_connect("t", written) == (by_int, {1: True})


@settings(max_examples=300, deadline=None)
@given(schemas_and_values())
def test_round_trip_with_schemas(pair: tuple[Schema, Any]) -> None:
    schema, value = pair
    json_converter = converter()
    data = json_converter.from_connect("t", schema, value)
    assert data is not None
    assert json_converter.to_connect("t", data) == (schema, value)
    assert converter().to_connect("t", data) == (schema, value)  # a fresh converter: no cached schema
    reparsed = json.dumps(json.loads(data), indent=1).encode()  # not the compact layout: the slow path
    assert converter().to_connect("t", reparsed) == (schema, value)


@settings(max_examples=200, deadline=None)
@given(schemas_and_values())
def test_schemaless_output_is_the_envelope_payload(pair: tuple[Schema, Any]) -> None:
    schema, value = pair
    enveloped = converter().from_connect("t", schema, value)
    plain = converter(schemas_enable="false").from_connect("t", schema, value)
    assert enveloped is not None and plain is not None
    schema_text = converter().schema_text(schema).encode()
    assert enveloped == b'{"schema":' + schema_text + b',"payload":' + plain + b"}"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (st.lists(children, max_size=3)
                      | st.dictionaries(st.text(max_size=5), children, max_size=3)),
    max_leaves=10)


@settings(max_examples=200, deadline=None)
@given(JSON_VALUES)
def test_round_trip_schemaless(value: Any) -> None:
    for options in ({"schemas_enable": "false"}, {}):
        json_converter = converter(**options)
        data = json_converter.from_connect("t", None, value)
        if value is None:
            assert data is None
            continue
        assert data is not None
        assert json_converter.to_connect("t", data) == (None, value)


def test_schemaless_reading_types() -> None:
    plain = converter(schemas_enable="false")
    assert plain.to_connect("t", b'{"a":1,"b":1.5,"c":[true,null,"x"]}') == (
        None, {"a": 1, "b": 1.5, "c": [True, None, "x"]})


def test_float32_read_as_the_nearest_float32() -> None:
    data = b'{"schema":{"type":"float32","optional":false},"payload":0.1}'
    schema, value = converter().to_connect("t", data)
    assert schema == Schema(Type.FLOAT32)
    assert value == 0.10000000149011612
    nan = b'{"schema":{"type":"float64","optional":false},"payload":"NaN"}'
    assert math.isnan(converter().to_connect("t", nan)[1])


@pytest.mark.parametrize(("data", "message"), [
    (b'{"a":1}', 'requires "schema" and "payload" fields'),
    (b'{"schema":null,"payload":1,"x":2}', 'requires "schema" and "payload" fields'),
    (b"not json", "serialization error"),
    (b'{"schema":{"optional":false},"payload":1}', "Schema must contain 'type' field"),
    (b'{"schema":{"type":"decimal"},"payload":1}', "Unknown schema type: decimal"),
    (b'{"schema":{"type":"array"},"payload":[]}', "Array schema did not specify the element type"),
    (b'{"schema":{"type":"struct","fields":[{"type":"int8"}]},"payload":{}}', "field name not specified"),
    (b'{"schema":{"type":"int32","optional":false},"payload":null}', "Invalid null value for required INT32"),
    (b'{"schema":{"type":"struct","fields":[]},"payload":[1]}', "Structs should be encoded as JSON objects"),
    (b'{"schema":{"type":"bytes"},"payload":"%%%"}', "Invalid base64"),
    (b'{"schema":{"type":"string","parameters":{"a":1}},"payload":"x"}', "parameters must have string"),
])
def test_bad_input_read(data: bytes, message: str) -> None:
    with pytest.raises(ConnectError, match=message):
        converter().to_connect("t", data)


@pytest.mark.parametrize(("schema", "value", "message"), [
    (INT32, "1", "Invalid Java object for schema type INT32"),
    (Schema(Type.INT8), 300, "300 is out of range for int8"),
    (BOOLEAN, 1, "schema type BOOLEAN"),
    (FLOAT64, "x", "schema type FLOAT64"),
    (Schema(Type.BYTES), "text", "Invalid type for bytes type: str"),
    (struct("v", [("a", Schema(Type.ARRAY, items=INT32))]), {"a": [1, "2"]}, "a: 1: Invalid Java object"),
    (struct("v", [("a", INT32)]), [1], "Invalid type for struct v: list"),
    (None, object(), "does not have corresponding schema type"),
])
def test_bad_data_written(schema: Schema | None, value: Any, message: str) -> None:
    with pytest.raises(ConnectError, match=message):
        converter().from_connect("t", schema, value)


@pytest.mark.parametrize(("options", "message"), [
    ({"schemas.enable": "yes"}, "Invalid value yes for configuration schemas.enable"),
    ({"decimal.format": "HEX"}, "Invalid value HEX for configuration decimal.format"),
    ({"replace.null.with.default": "1"}, "replace.null.with.default"),
    ({"schemas.cache.size": "many"}, "schemas.cache.size"),
])
def test_bad_options(options: dict[str, str], message: str) -> None:
    with pytest.raises(ConnectError, match=message):
        make_converter("json", options, False)


def test_unknown_options_are_ignored_as_kafka_does() -> None:
    made = make_converter("json", {"schema.registry.url": "http://x", "schemas.enable": "FALSE"}, True)
    assert isinstance(made, JsonConverter) and not made.schemas_enabled and made.is_key
