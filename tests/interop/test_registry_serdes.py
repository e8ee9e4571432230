"""confluent-kafka's schema-registry serdes round-trip records through the broker with this registry.

Avro, JSON Schema and Protobuf: each serializer registers (or looks up, or takes the latest
version of) its schema, frames the payload with the schema id (Confluent's wire format: magic 0,
big-endian id, Protobuf message indexes), a plain `Producer` writes it, a `Consumer` reads it back
and the deserializer fetches the schema by id and decodes it.  The Protobuf classes are compiled at
test time with grpc_tools' protoc from two .proto files, one importing the other, so the serializer
also registers the import as a reference (subject ``shop/money.proto``).  A few calls go through
`AsyncSchemaRegistryClient` and the async Avro serdes.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import (
    AsyncSchemaRegistryClient,
    ConfigCompatibilityLevel,
    MessageField,
    Schema,
    SchemaRegistryClient,
    SchemaRegistryError,
    SerializationContext,
    ServerConfig,
)
from confluent_kafka.schema_registry.avro import (
    AsyncAvroDeserializer,
    AsyncAvroSerializer,
    AvroDeserializer,
    AvroSerializer,
)
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import SerializationError
from tests.support.registry import unique

from streamlog.embedded import EmbeddedBroker

USER = {
    "type": "record",
    "name": "User",
    "namespace": "com.example.serdes",
    "fields": [
        {"name": "name", "type": "string"},
        {"name": "age", "type": "int"},
        {"name": "email", "type": ["null", "string"], "default": None},
    ],
}
ORDER_JSON = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Order",
    "type": "object",
    "properties": {"id": {"type": "integer"}, "items": {"type": "array", "items": {"type": "string"}}},
    "required": ["id"],
    "additionalProperties": False,
}
MONEY_PROTO = (
    'syntax = "proto3";\npackage shop;\n\nmessage Money {\n  int64 cents = 1;\n  string currency = 2;\n}\n'
)
ORDER_PROTO = (
    'syntax = "proto3";\npackage shop;\n\nimport "shop/money.proto";\n\n'
    "message Order {\n  int64 id = 1;\n  shop.Money total = 2;\n  repeated string items = 3;\n"
    "  message Line {\n    string sku = 1;\n  }\n  repeated Line lines = 4;\n}\n"
)


@pytest.fixture
def registry_bootstrap(streamlog_registry_broker: EmbeddedBroker) -> str:
    return f"{streamlog_registry_broker.host}:{streamlog_registry_broker.port}"


@pytest.fixture
def registry(streamlog_registry_url: str) -> Iterator[SchemaRegistryClient]:
    yield SchemaRegistryClient({"url": streamlog_registry_url})


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    failures: list[Any] = []
    for value in values:
        producer.produce(
            topic,
            value=value,
            partition=0,
            on_delivery=lambda err, _m: failures.append(err) if err is not None else None,
        )
    assert producer.flush(30) == 0 and failures == []


def consume(bootstrap: str, topic: str, count: int) -> list[bytes]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": unique("serdes"), "enable.auto.commit": False}
    )
    got: list[bytes] = []
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        for _ in range(200):
            if len(got) >= count:
                break
            for message in consumer.consume(count - len(got), timeout=0.2):
                assert message.error() is None, message.error()
                got.append(message.value())
    finally:
        consumer.close()
    assert len(got) == count, f"read {len(got)} of {count} records of {topic}"
    return got


def roundtrip(bootstrap: str, topic: str, serialize: Any, deserialize: Any, values: list[Any]) -> list[Any]:
    ctx = SerializationContext(topic, MessageField.VALUE)
    payloads = [serialize(v, ctx) for v in values]
    produce(bootstrap, topic, payloads)
    read = consume(bootstrap, topic, len(values))
    assert read == payloads
    return [deserialize(p, ctx) for p in read]


def framed_id(payload: bytes) -> int:
    magic, schema_id = struct.unpack(">bI", payload[:5])
    assert magic == 0
    return int(schema_id)


def test_avro_roundtrip(
    registry_bootstrap: str, registry: SchemaRegistryClient, streamlog_registry_url: str
) -> None:
    topic = unique("avro")
    serializer = AvroSerializer(registry, json.dumps(USER))
    deserializer = AvroDeserializer(registry)
    users = [{"name": "ada", "age": 36, "email": None}, {"name": "alan", "age": 41, "email": "a@t.uk"}]
    ctx = SerializationContext(topic, MessageField.VALUE)
    assert roundtrip(registry_bootstrap, topic, serializer, deserializer, users) == users
    latest = registry.get_latest_version(f"{topic}-value")
    assert latest.version == 1 and latest.schema.schema_type == "AVRO"
    assert framed_id(serializer(users[0], ctx)) == latest.schema_id
    # a reader with its own (evolved) schema
    evolved = dict(USER, fields=[*USER["fields"], {"name": "country", "type": "string", "default": "??"}])
    reader = AvroDeserializer(registry, json.dumps(evolved))
    assert reader(serializer(users[1], ctx), ctx) == {**users[1], "country": "??"}
    # an evolved writer registers version 2 (backward compatible: the new field has a default)
    writer2 = AvroSerializer(registry, json.dumps(evolved))
    payload = writer2({**users[0], "country": "uk"}, ctx)
    assert registry.get_versions(f"{topic}-value") == [1, 2]
    assert framed_id(payload) == registry.get_version(f"{topic}-value", 2).schema_id
    assert deserializer(payload, ctx) == {**users[0], "country": "uk"}
    # an incompatible writer is refused by the registry (409)
    broken = dict(USER, fields=[{"name": "name", "type": "int"}])
    with pytest.raises(SchemaRegistryError) as caught:
        AvroSerializer(registry, json.dumps(broken))(users[0], ctx)
    assert (caught.value.http_status_code, caught.value.error_code) == (409, 409)


def test_avro_without_auto_register_and_with_latest(
    registry_bootstrap: str, registry: SchemaRegistryClient
) -> None:
    topic = unique("avro-latest")
    subject = f"{topic}-value"
    ctx = SerializationContext(topic, MessageField.VALUE)
    lookup_only = AvroSerializer(registry, json.dumps(USER), conf={"auto.register.schemas": False})
    with pytest.raises(SchemaRegistryError) as caught:
        lookup_only({"name": "x", "age": 1, "email": None}, ctx)
    assert caught.value.http_status_code == 404 and caught.value.error_code == 40401
    schema_id = registry.register_schema(subject, Schema(json.dumps(USER), "AVRO"))
    assert framed_id(lookup_only({"name": "x", "age": 1, "email": None}, ctx)) == schema_id
    latest = AvroSerializer(registry, None, conf={"auto.register.schemas": False, "use.latest.version": True})
    values = [{"name": "grace", "age": 85, "email": None}]
    assert roundtrip(registry_bootstrap, topic, latest, AvroDeserializer(registry), values) == values
    assert registry.get_versions(subject) == [1]
    assert registry.lookup_schema(subject, Schema(json.dumps(USER), "AVRO")).schema_id == schema_id


def test_json_schema_roundtrip(registry_bootstrap: str, registry: SchemaRegistryClient) -> None:
    topic = unique("json")
    serializer = JSONSerializer(json.dumps(ORDER_JSON), registry)
    deserializer = JSONDeserializer(json.dumps(ORDER_JSON), schema_registry_client=registry)
    orders = [{"id": 1, "items": ["tea"]}, {"id": 2, "items": []}]
    assert roundtrip(registry_bootstrap, topic, serializer, deserializer, orders) == orders
    latest = registry.get_latest_version(f"{topic}-value")
    assert latest.schema.schema_type == "JSON"
    assert json.loads(latest.schema.schema_str) == ORDER_JSON
    # a deserializer with no schema of its own takes the writer's from the registry
    by_id = JSONDeserializer(None, schema_registry_client=registry)
    ctx = SerializationContext(topic, MessageField.VALUE)
    assert by_id(serializer(orders[0], ctx), ctx) == orders[0]
    with pytest.raises(SerializationError):
        serializer({"id": "not a number"}, ctx)
    latest_only = JSONSerializer(
        None, registry, conf={"auto.register.schemas": False, "use.latest.version": True}
    )
    assert framed_id(latest_only(orders[1], ctx)) == latest.schema_id


@pytest.fixture(scope="module")
def shop_pb2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    from grpc_tools import protoc

    src = tmp_path_factory.mktemp("proto")
    out = tmp_path_factory.mktemp("pb2")
    (src / "shop").mkdir()
    (src / "shop" / "money.proto").write_text(MONEY_PROTO)
    (src / "shop" / "order.proto").write_text(ORDER_PROTO)
    include = str(Path(protoc.__file__).parent / "_proto")
    code = protoc.main(
        ["protoc", f"-I{src}", f"-I{include}", f"--python_out={out}", "shop/money.proto", "shop/order.proto"]
    )
    assert code == 0, "protoc failed"
    (out / "shop" / "__init__.py").write_text("")
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module("shop.order_pb2")
    finally:
        sys.path.remove(str(out))
        for name in [n for n in sys.modules if n == "shop" or n.startswith("shop.")]:
            del sys.modules[name]


def test_protobuf_roundtrip_with_an_imported_file(
    registry_bootstrap: str, registry: SchemaRegistryClient, shop_pb2: ModuleType
) -> None:
    topic = unique("proto")
    order_cls = shop_pb2.Order
    serializer = ProtobufSerializer(order_cls, registry, {"use.deprecated.format": False})
    deserializer = ProtobufDeserializer(order_cls, {"use.deprecated.format": False})
    orders = [
        order_cls(id=1, items=["tea"], total={"cents": 250, "currency": "EUR"}),
        order_cls(id=2, lines=[order_cls.Line(sku="x-1")]),
    ]
    assert roundtrip(registry_bootstrap, topic, serializer, deserializer, orders) == orders
    # the import was registered under its path, and the main schema references it
    assert registry.get_versions("shop/money.proto") == [1]
    latest = registry.get_latest_version(f"{topic}-value")
    assert latest.schema.schema_type == "PROTOBUF"
    assert [(r.name, r.subject, r.version) for r in latest.schema.references] == [
        ("shop/money.proto", "shop/money.proto", 1)
    ]
    money = registry.get_latest_version("shop/money.proto")
    assert latest.schema_id in registry.get_referenced_by("shop/money.proto", money.version)
    ctx = SerializationContext(topic, MessageField.VALUE)
    payload = serializer(orders[0], ctx)
    assert framed_id(payload) == latest.schema_id
    assert payload[5] == 0  # message index [0]: the first message of the file, as one 0 byte
    nested = serializer.__class__(order_cls.Line, registry, {"use.deprecated.format": False})
    line_topic = unique("proto-line")
    line_ctx = SerializationContext(line_topic, MessageField.VALUE)
    line_payload = nested(order_cls.Line(sku="n"), line_ctx)
    assert line_payload[5:8] == bytes([4, 0, 0])  # message indexes [0, 0]: zig-zag count 2, then 0, 0
    assert ProtobufDeserializer(order_cls.Line, {"use.deprecated.format": False})(
        line_payload, line_ctx
    ) == order_cls.Line(sku="n")
    # the schema as the registry serves it (by id, and as a serialized descriptor) decodes again
    fetched = registry.get_schema(latest.schema_id)
    assert "message Order" in fetched.schema_str


def test_async_client_and_serdes(registry_bootstrap: str, streamlog_registry_url: str) -> None:
    topic = unique("async")
    subject = f"{topic}-value"

    async def main() -> list[Any]:
        client = AsyncSchemaRegistryClient({"url": streamlog_registry_url})
        schema = Schema(json.dumps(USER), "AVRO")
        schema_id = await client.register_schema(subject, schema)
        assert (await client.get_schema(schema_id)).schema_type == "AVRO"
        assert (await client.lookup_schema(subject, schema)).schema_id == schema_id
        assert await client.get_versions(subject) == [1]
        assert subject in await client.get_subjects()
        assert (await client.get_latest_version(subject)).schema_id == schema_id
        assert await client.test_compatibility(subject, schema) is True
        await client.set_compatibility(subject, "FULL")
        assert await client.get_compatibility(subject) == "FULL"
        serializer = await AsyncAvroSerializer(client, schema_str=json.dumps(USER))
        deserializer = await AsyncAvroDeserializer(client)
        ctx = SerializationContext(topic, MessageField.VALUE)
        users = [{"name": "barbara", "age": 84, "email": None}]
        payloads = [await serializer(u, ctx) for u in users]
        assert framed_id(payloads[0]) == schema_id
        produce(registry_bootstrap, topic, payloads)
        return [await deserializer(p, ctx) for p in consume(registry_bootstrap, topic, 1)]

    assert asyncio.run(main()) == [{"name": "barbara", "age": 84, "email": None}]


def test_sync_client_admin_calls(registry: SchemaRegistryClient) -> None:
    """The client methods that send Python booleans (normalize=False, deleted=True...) as query strings."""
    subject = unique("client")
    schema = Schema(json.dumps(USER), "AVRO")
    registered = registry.register_schema_full_response(subject, schema, normalize_schemas=True)
    assert registered.schema_id is not None
    assert registry.get_subjects_by_schema_id(registered.schema_id) is not None
    assert registry.test_compatibility(subject, schema, verbose=True) is True
    assert registry.delete_version(subject, 1) == 1
    assert registry.get_version(subject, 1, deleted=True).version == 1
    assert registry.lookup_schema(subject, schema, deleted=True).version == 1
    assert registry.delete_subject(subject, permanent=True) == [1]
    with pytest.raises(SchemaRegistryError) as caught:
        registry.get_version(subject, 1, deleted=True)
    assert (caught.value.http_status_code, caught.value.error_code) == (404, 40401)
    other = unique("client-mode")
    assert registry.update_mode(other, "READONLY") == "READONLY"
    assert registry.get_mode(other) == "READONLY"
    with pytest.raises(SchemaRegistryError) as caught:
        registry.register_schema(other, schema)
    assert (caught.value.http_status_code, caught.value.error_code) == (422, 42205)
    assert registry.delete_mode(other) == "READONLY"
    assert registry.get_schema_types() == ["JSON", "PROTOBUF", "AVRO"]
    assert registry.test_compatibility_all_versions(other, schema) is True
    assert registry.set_config(other, ServerConfig(compatibility=ConfigCompatibilityLevel.NONE)) == {
        "compatibility": "NONE"
    }
    assert registry.get_config(other).compatibility_level == ConfigCompatibilityLevel.NONE
