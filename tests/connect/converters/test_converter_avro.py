"""AvroConverter against the project's schema registry: confluent_kafka's Avro serdes as the oracle in
both directions, round trips of every type, subjects, registration options, tombstones, bad input."""

from __future__ import annotations

import itertools
import json
import os
from decimal import Context, Decimal
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema as RegistrySchema
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from hypothesis import HealthCheck, given, settings
from tests.connect.converters.connect_strategies import schemas_and_values, uniquely_named

from streamlog.connect.api import ConnectError
from streamlog.connect.converters import make_converter
from streamlog.connect.converters_avro import AvroConverter
from streamlog.connect.data import (
    DECIMAL_NAME,
    INT32,
    OPTIONAL_STRING,
    STRING,
    Schema,
    Type,
    decimal_schema,
    struct,
)

_topics = itertools.count()
HYPOTHESIS = settings(max_examples=60, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture])


def topic() -> str:
    return f"avro-conv-{os.getpid()}-{next(_topics)}"


def avro(url: str, is_key: bool = False, **options: str) -> AvroConverter:
    settings_ = {"schema.registry.url": url, **{k.replace("_", "."): v for k, v in options.items()}}
    made = make_converter("io.confluent.connect.avro.AvroConverter", settings_, is_key)
    assert isinstance(made, AvroConverter)
    return made


ROW = struct("srv.public.orders.Value", [
    ("id", INT32), ("note", OPTIONAL_STRING), ("total", decimal_schema(2, precision=10)),
    ("small", Schema(Type.INT16)), ("tags", Schema(Type.ARRAY, items=STRING)),
    ("attrs", Schema(Type.MAP, True, keys=STRING, values=INT32)),
    ("by_id", Schema(Type.MAP, keys=INT32, values=STRING))])
ROW_VALUE = {"id": 7, "note": None, "total": Decimal("12.30"), "small": -3, "tags": ["a", "b"],
             "attrs": {"x": 1}, "by_id": {1: "one", 2: "two"}}


def test_written_records_decode_with_confluent_kafka(streamlog_registry_url: str) -> None:
    name = topic()
    data = avro(streamlog_registry_url).from_connect(name, ROW, ROW_VALUE)
    assert data is not None and data[0] == 0
    client = SchemaRegistryClient({"url": streamlog_registry_url})
    decoded = AvroDeserializer(client)(data, SerializationContext(name, MessageField.VALUE))
    assert decoded == {"id": 7, "note": None, "total": Decimal("12.30"), "small": -3, "tags": ["a", "b"],
                       "attrs": {"x": 1}, "by_id": [{"key": 1, "value": "one"}, {"key": 2, "value": "two"}]}
    registered = client.get_latest_version(f"{name}-value")
    assert int.from_bytes(data[1:5], "big") == registered.schema_id
    assert json.loads(registered.schema.schema_str)["connect.name"] == "srv.public.orders.Value"


def test_round_trip_with_registry_version(streamlog_registry_url: str) -> None:
    name = topic()
    converter = avro(streamlog_registry_url)
    data = converter.from_connect(name, ROW, ROW_VALUE)
    schema, value = avro(streamlog_registry_url).to_connect(name, data)
    assert value == ROW_VALUE
    # no connect.version in the Avro schema: the version is the one under the subject, as Confluent's
    assert schema == Schema(ROW.type, ROW.optional, ROW.name, 1, fields=ROW.fields)


def test_debezium_envelope_with_a_named_reference(streamlog_registry_url: str) -> None:
    """``after`` refers to the record ``before`` defined (``["null","Value"]``); read back whole."""
    row = struct("srv.public.items.Value", [("id", INT32), ("name", OPTIONAL_STRING)], optional=True)
    envelope = struct("srv.public.items.Envelope", [("before", row), ("after", row), ("op", STRING)],
                      version=1)
    value = {"before": None, "after": {"id": 1, "name": "x"}, "op": "c"}
    name = topic()
    data = avro(streamlog_registry_url).from_connect(name, envelope, value)
    client = SchemaRegistryClient({"url": streamlog_registry_url})
    fields = json.loads(client.get_latest_version(f"{name}-value").schema.schema_str)["fields"]
    assert fields[1] == {"name": "after", "type": ["null", "Value"], "default": None}
    assert avro(streamlog_registry_url).to_connect(name, data) == (envelope, value)
    assert AvroDeserializer(client)(data, SerializationContext(name, MessageField.VALUE)) == value


def test_key_subject_and_tombstones(streamlog_registry_url: str) -> None:
    name = topic()
    key_converter = avro(streamlog_registry_url, is_key=True)
    data = key_converter.from_connect(name, INT32, 5)
    client = SchemaRegistryClient({"url": streamlog_registry_url})
    assert json.loads(client.get_latest_version(f"{name}-key").schema.schema_str) == "int"
    # the version under the subject, as Confluent's converter gives it to primitives too
    assert key_converter.to_connect(name, data) == (Schema(Type.INT32, version=1), 5)
    assert key_converter.from_connect(name, ROW, None) is None
    assert key_converter.to_connect(name, None) == (None, None)


def test_record_name_strategies(streamlog_registry_url: str) -> None:
    client = SchemaRegistryClient({"url": streamlog_registry_url})
    schema = struct(f"strat.Rec{next(_topics)}", [("a", INT32)])
    name = topic()
    avro(streamlog_registry_url, value_subject_name_strategy="io.confluent.kafka.serializers.subject."
         "RecordNameStrategy").from_connect(name, schema, {"a": 1})
    avro(streamlog_registry_url, value_subject_name_strategy="TopicRecordNameStrategy").from_connect(
        name, schema, {"a": 1})
    subjects = client.get_subjects()
    assert schema.name in subjects and f"{name}-{schema.name}" in subjects
    with pytest.raises(ConnectError, match="RecordNameStrategy needs a record"):
        avro(streamlog_registry_url, value_subject_name_strategy="RecordNameStrategy").from_connect(
            name, INT32, 1)


def test_auto_register_off_and_latest_version(streamlog_registry_url: str) -> None:
    name = topic()
    schema = struct("reg.Off", [("a", INT32)])
    lookup_only = avro(streamlog_registry_url, auto_register_schemas="false")
    with pytest.raises(ConnectError, match=f"Failed looking up the Avro schema of subject {name}-value"):
        lookup_only.from_connect(name, schema, {"a": 1})
    first = avro(streamlog_registry_url).from_connect(name, schema, {"a": 1})
    assert lookup_only.from_connect(name, schema, {"a": 1}) == first
    evolved = struct("reg.Off", [("a", INT32), ("b", Schema(Type.STRING, True))])
    avro(streamlog_registry_url).from_connect(name, evolved, {"a": 1, "b": "x"})
    latest = avro(streamlog_registry_url, auto_register_schemas="false", use_latest_version="true")
    data = latest.from_connect(name, evolved, {"a": 2, "b": None})
    read_schema, value = latest.to_connect(name, data)
    assert value == {"a": 2, "b": None} and read_schema.fields == evolved.fields and read_schema.version == 2


def test_reads_records_of_other_producers(streamlog_registry_url: str) -> None:
    """A plain Avro schema (not made from Connect) written by confluent_kafka's AvroSerializer."""
    name = topic()
    avro_schema = {
        "type": "record", "name": "Order", "namespace": "shop", "doc": "an order",
        "fields": [
            {"name": "id", "type": "long"},
            {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID"]}},
            {"name": "digest", "type": {"type": "fixed", "name": "Digest", "size": 2}},
            {"name": "amount",
             "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
            {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "lines", "type": {"type": "array", "items": {
                "type": "record", "name": "Line", "fields": [{"name": "sku", "type": "string"}]}}},
            {"name": "first", "type": ["null", "Line"], "default": None},
            {"name": "qty", "type": "int", "default": 1},
        ]}
    client = SchemaRegistryClient({"url": streamlog_registry_url})
    serializer = AvroSerializer(client, json.dumps(avro_schema), conf={"auto.register.schemas": True})
    import datetime as dt
    at = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    data = serializer({"id": 1, "status": "PAID", "digest": b"\x01\x02", "amount": Decimal("9.99"), "at": at,
                       "lines": [{"sku": "s1"}], "first": {"sku": "s1"}, "qty": 3},
                      SerializationContext(name, MessageField.VALUE))
    schema, value = avro(streamlog_registry_url).to_connect(name, data)
    assert value == {"id": 1, "status": "PAID", "digest": b"\x01\x02", "amount": Decimal("9.99"),
                     "at": int(at.timestamp() * 1000), "lines": [{"sku": "s1"}], "first": {"sku": "s1"},
                     "qty": 3}
    assert schema.name == "shop.Order" and schema.version == 1
    assert schema.parameters == {"io.confluent.connect.avro.record.doc": "an order"}
    fields = {f.name: f.schema for f in schema.fields}
    assert fields["status"] == Schema(Type.STRING, name="shop.Status", parameters={
        "io.confluent.connect.avro.Enum": "shop.Status", "io.confluent.connect.avro.Enum.NEW": "NEW",
        "io.confluent.connect.avro.Enum.PAID": "PAID"})
    assert fields["digest"] == Schema(Type.BYTES, name="shop.Digest", parameters={"connect.fixed.size": "2"})
    assert fields["amount"] == Schema(Type.BYTES, name=DECIMAL_NAME, version=1, parameters={
        "scale": "2", "connect.decimal.precision": "9"})
    assert fields["at"] == Schema(Type.INT64, name="org.apache.kafka.connect.data.Timestamp", version=1)
    assert fields["lines"].items == struct("shop.Line", [("sku", STRING)])
    assert fields["first"] == struct("shop.Line", [("sku", STRING)], optional=True)
    assert fields["qty"] == Schema(Type.INT32, default=1,
                                   parameters={"io.confluent.connect.avro.field.default": "true"})


@HYPOTHESIS
@given(schemas_and_values(precision=False, times=False))
def test_round_trip_and_oracle(streamlog_registry_url: str, pair: tuple[Schema, Any]) -> None:
    schema, value = pair
    schema = uniquely_named(schema)
    name = topic()
    data = avro(streamlog_registry_url).from_connect(name, schema, value)
    if value is None:
        assert data is None
        return
    read_schema, read_value = avro(streamlog_registry_url).to_connect(name, data)
    # no connect.version: the version under the subject, unless the schema is a union (AvroData reads an
    # optional schema as its non-null branch, without the registry's version)
    expected_version = schema.version if schema.version is not None else (None if schema.optional else 1)
    assert read_schema == Schema(schema.type, schema.optional, schema.name, expected_version, schema.doc,
                                 schema.parameters, schema.default, schema.fields, schema.items, schema.keys,
                                 schema.values)
    assert read_value == value
    client = SchemaRegistryClient({"url": streamlog_registry_url})
    if len(data) == 5:  # empty top-level bytes: confluent_kafka refuses a record of just the header
        return
    oracle = AvroDeserializer(client)(data, SerializationContext(name, MessageField.VALUE))
    if schema.name == DECIMAL_NAME and not schema.optional:  # a plain bytes schema: raw, no logical type
        unscaled = int(value.scaleb(int((schema.parameters or {})["scale"]), context=Context(prec=100)))
        assert int.from_bytes(oracle, "big", signed=True) == unscaled
        return
    assert oracle == _as_avro(schema, value)


def _as_avro(schema: Schema, value: Any) -> Any:
    """What confluent_kafka's AvroDeserializer gives for a Connect value (maps of other keys as entries)."""
    if value is None:
        return None if schema.default is None else _as_avro(schema, schema.default)
    if schema.type is Type.ARRAY:
        assert schema.items is not None
        return [_as_avro(schema.items, element) for element in value]
    if schema.type is Type.MAP:
        assert schema.keys is not None and schema.values is not None
        if schema.keys.type is Type.STRING:
            return {k: _as_avro(schema.values, v) for k, v in value.items()}
        return [{"key": _as_avro(schema.keys, k), "value": _as_avro(schema.values, v)}
                for k, v in value.items()]
    if schema.type is Type.STRUCT:
        return {f.name: _as_avro(f.schema, value.get(f.name)) for f in schema.fields}
    return value


def test_bad_options(streamlog_registry_url: str) -> None:
    with pytest.raises(ConnectError, match=r"AvroConverter needs schema\.registry\.url"):
        make_converter("avro", {}, False)
    with pytest.raises(ConnectError, match=r"value\.subject\.name\.strategy"):
        avro(streamlog_registry_url, value_subject_name_strategy="Nope")
    with pytest.raises(ConnectError, match=r"enhanced\.avro\.schema\.support=true is not supported"):
        avro(streamlog_registry_url, enhanced_avro_schema_support="true")
    with pytest.raises(ConnectError, match=r"auto\.register\.schemas"):
        avro(streamlog_registry_url, auto_register_schemas="sometimes")


def test_bad_input(streamlog_registry_url: str) -> None:
    converter = avro(streamlog_registry_url)
    with pytest.raises(ConnectError, match="Unknown magic byte"):
        converter.to_connect("t", b"\x01\x00\x00\x00\x01")
    with pytest.raises(ConnectError, match="schema id 987654 not found"):
        converter.to_connect("t", b"\x00" + (987654).to_bytes(4, "big") + b"\x02")
    with pytest.raises(ConnectError, match="needs a schema"):
        converter.from_connect("t", None, {"a": 1})
    with pytest.raises(ConnectError, match="a: Invalid Java object for schema type INT32"):
        converter.from_connect(topic(), struct("bad.R", [("a", INT32)]), {"a": "one"})
    client = SchemaRegistryClient({"url": streamlog_registry_url})
    union_id = client.register_schema(f"{topic()}-value", RegistrySchema('["int","string"]', "AVRO"))
    with pytest.raises(ConnectError, match="is not supported"):
        converter.to_connect("t", b"\x00" + union_id.to_bytes(4, "big") + b"\x00\x02")


def test_unreachable_registry() -> None:
    converter = make_converter("avro", {"schema.registry.url": "http://127.0.0.1:9"}, False)
    with pytest.raises(ConnectError, match=r"Schema registry unreachable|Failed registering"):
        converter.from_connect("t", INT32, 1)
