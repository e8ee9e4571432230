"""Avro, Protobuf and JSON Schema serdes over a schema registry (Streamlog's own, Confluent's API).

The first group needs no registry: building a serde checks its arguments and schema, and a failure
to reach the registry or bytes not in the wire format are `SerdeError`.  The rest run against the
``streamlog_registry_url`` fixture (session-wide, never reset: every test uses topics of its own):
each serde registers its schema under the subject its strategy names and round-trips values; the
bytes are checked against Confluent's wire format as Java's ``KafkaAvroSerializer`` and its siblings
write it (magic byte 0, the schema id in 4 big-endian bytes, Protobuf message indexes, then the
payload, built here by hand with fastavro and protobuf); and records cross between these serdes and
confluent-kafka's stock serializers through a real topic, in both directions.
"""

from __future__ import annotations

import io
import json
import struct
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import fastavro
import httpx
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import MessageField, SchemaRegistryClient, SerializationContext
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamlog.embedded import EmbeddedBroker
from streamlog.streams import serdes
from streamlog.streams.serdes import SerdeError
from streamlog.streams.serdes_registry import RegistrySerde, SubjectNameStrategy, subject_name_strategy_of

NAMESPACE = "com.example.streams"
USER = {
    "type": "record",
    "name": "User",
    "namespace": NAMESPACE,
    "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "int"}],
}
ORDER_JSON = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Order",
    "type": "object",
    "properties": {"id": {"type": "integer"}, "items": {"type": "array", "items": {"type": "string"}}},
    "required": ["id"],
}
Field = descriptor_pb2.FieldDescriptorProto


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def framed(payload: bytes) -> tuple[int, int, bytes]:
    """(magic byte, schema id, rest) of a record in Confluent's wire format."""
    magic, schema_id = struct.unpack(">bI", payload[:5])
    return magic, schema_id, payload[5:]


def avro_body(schema: dict[str, Any], value: Any) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), value)
    return out.getvalue()


def latest_id(url: str, subject: str) -> int:
    answer = httpx.get(f"{url}/subjects/{quote(subject, safe='')}/versions/latest", timeout=30)
    assert answer.status_code == 200, answer.text
    schema_id: int = answer.json()["id"]
    return schema_id


def versions(url: str, subject: str) -> list[int]:
    answer = httpx.get(f"{url}/subjects/{quote(subject, safe='')}/versions", timeout=30)
    if answer.status_code == 404:
        return []
    found: list[int] = answer.json()
    return found


# --- without a registry -------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), [
    ("topic", SubjectNameStrategy.TOPIC),
    ("record", SubjectNameStrategy.RECORD),
    ("topic_record", SubjectNameStrategy.TOPIC_RECORD),
    ("topic-record", SubjectNameStrategy.TOPIC_RECORD),
    ("io.confluent.kafka.serializers.subject.TopicNameStrategy", SubjectNameStrategy.TOPIC),
    ("RecordNameStrategy", SubjectNameStrategy.RECORD),
    ("TopicRecordNameStrategy", SubjectNameStrategy.TOPIC_RECORD),
    (SubjectNameStrategy.RECORD, SubjectNameStrategy.RECORD),
])
def test_subject_name_strategies(name: str, expected: SubjectNameStrategy) -> None:
    assert subject_name_strategy_of(name) is expected


@pytest.mark.parametrize(("build", "message"), [
    (lambda: serdes.avro("http://r", '{"type": "nope"}'),
     "AVRO serde: invalid Avro schema: unknown type 'nope'"),
    (lambda: serdes.avro("http://r", "{not json"), "AVRO serde: the schema is not JSON"),
    (lambda: serdes.avro("http://r", {"type": "record", "name": "R", "fields": [{"name": "a"}]}),
     "AVRO serde: invalid Avro schema: Record field 'a' is missing 'type'"),
    (lambda: serdes.avro("http://r", 42), "AVRO serde: a schema is JSON text or a dict, got int"),
    (lambda: serdes.avro("not a url", USER), "AVRO serde: bad schema registry settings for 'not a url'"),
    (lambda: serdes.avro("http://r", USER, client_config={"bogus": "1"}),
     "AVRO serde: bad schema registry settings for 'http://r': Unrecognized properties: bogus"),
    (lambda: serdes.avro("http://r", USER, subject_name_strategy="by-magic"),
     "unknown subject name strategy 'by-magic' (known: topic, record, topic_record)"),
    (lambda: serdes.avro("http://r", USER, use_latest_version=True),
     "AVRO serde: use_latest_version=True needs auto_register=False"),
    (lambda: serdes.json_schema("http://r", "{oops"), "JSON_SCHEMA serde:"),
    (lambda: serdes.protobuf("http://r", dict), "PROTOBUF serde: message_type must be a generated Protobuf"),
])
def test_bad_arguments_fail_when_the_serde_is_built(build: Any, message: str) -> None:
    with pytest.raises(SerdeError) as caught:
        build()
    assert str(caught.value).startswith(message), str(caught.value)


def test_nothing_is_fetched_until_a_record_and_none_is_a_tombstone() -> None:
    dead = "http://127.0.0.1:9"  # the discard port: nothing listens
    for serde in (serdes.avro(dead, USER), serdes.json_schema(dead, ORDER_JSON),
                  serdes.protobuf(dead, order_class(unique("pkg"))[0])):
        assert serde.serialize("t", None) is None
        assert serde.deserialize("t", None) is None
        with pytest.raises(SerdeError) as caught:
            serde.deserialize("t", b"\x07junk")
        assert "cannot deserialize the value of a record of topic 't'" in str(caught.value)
    with pytest.raises(SerdeError) as unreachable:
        serdes.avro(dead, USER).serialize("orders", {"name": "a", "age": 1})
    assert str(unreachable.value).startswith(
        "AVRO serde: cannot serialize the value of a record of topic 'orders': "
        f"cannot reach the schema registry at {dead}")


def test_avro_without_a_schema_only_reads() -> None:
    reader = serdes.avro("http://r")
    with pytest.raises(SerdeError, match="has no schema, so it can only deserialize"):
        reader.serialize("t", {"name": "a", "age": 1})
    assert repr(serdes.avro("http://r", USER, is_key=True)) == "AVRO(http://r, key)"
    assert isinstance(reader, serdes.Serde) and reader.name == "AVRO"
    assert serdes.json_schema("http://r").name == "JSON_SCHEMA"


# --- against Streamlog's registry -------------------------------------------------------------------------


@pytest.fixture
def url(streamlog_registry_url: str) -> str:
    return streamlog_registry_url


def test_avro_round_trip_in_javas_wire_format(url: str) -> None:
    topic = unique("users")
    value_serde = serdes.avro(url, USER)
    users = [{"name": "ada", "age": 36}, {"name": "alan", "age": 41}]
    payloads = [value_serde.serialize(topic, u) for u in users]
    schema_id = latest_id(url, f"{topic}-value")
    for user, payload in zip(users, payloads, strict=True):
        assert payload == b"\x00" + struct.pack(">I", schema_id) + avro_body(USER, user)
        assert value_serde.deserialize(topic, payload) == user
    assert versions(url, f"{topic}-value") == [1]
    # a key serde registers under <topic>-key; the same schema has the same id
    key_serde = serdes.avro(url, USER, is_key=True)
    key = key_serde.serialize(topic, users[0])
    assert key is not None and framed(key)[1] == latest_id(url, f"{topic}-key") == schema_id
    # bytes written by hand, as a Java producer would, read back
    by_hand = b"\x00" + struct.pack(">I", schema_id) + avro_body(USER, {"name": "grace", "age": 85})
    assert serdes.avro(url).deserialize(topic, by_hand) == {"name": "grace", "age": 85}


EVERYTHING = {
    "type": "record",
    "name": "Everything",
    "namespace": NAMESPACE,
    "fields": [
        {"name": "text", "type": "string"},
        {"name": "count", "type": "long"},
        {"name": "ratio", "type": "double"},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "tags", "type": {"type": "array", "items": "int"}},
        {"name": "blob", "type": "bytes"},
    ],
}
EVERYTHING_TOPIC = unique("everything")
everything = st.fixed_dictionaries({
    "text": st.text(),
    "count": st.integers(min_value=-(2**63), max_value=2**63 - 1),
    "ratio": st.floats(allow_nan=False),
    "note": st.none() | st.text(),
    "tags": st.lists(st.integers(min_value=-(2**31), max_value=2**31 - 1), max_size=5),
    "blob": st.binary(max_size=20),
})


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=everything)
def test_avro_round_trips_any_value_of_its_schema(url: str, value: dict[str, Any]) -> None:
    topic = EVERYTHING_TOPIC  # one subject for every example
    serde = serdes.avro(url, EVERYTHING)
    payload = serde.serialize(topic, value)
    assert payload is not None and payload[5:] == avro_body(EVERYTHING, value)
    assert serde.deserialize(topic, payload) == value


def test_avro_reader_schema_evolution_and_incompatible_writers(url: str) -> None:
    topic = unique("evolve")
    old = serdes.avro(url, USER).serialize(topic, {"name": "ada", "age": 36})
    evolved = dict(USER, fields=[*USER["fields"], {"name": "country", "type": "string", "default": "??"}])
    new_serde = serdes.avro(url, evolved)
    assert new_serde.deserialize(topic, old) == {"name": "ada", "age": 36, "country": "??"}
    newer = new_serde.serialize(topic, {"name": "alan", "age": 41, "country": "uk"})
    assert newer is not None and framed(newer)[1] == latest_id(url, f"{topic}-value")
    assert versions(url, f"{topic}-value") == [1, 2]
    assert serdes.avro(url).deserialize(topic, newer) == {"name": "alan", "age": 41, "country": "uk"}
    broken = serdes.avro(url, dict(USER, fields=[{"name": "name", "type": "int"}]))
    with pytest.raises(SerdeError) as caught:
        broken.serialize(topic, {"name": 3})
    assert f"the schema registry at {url} answered 409" in str(caught.value)


def test_avro_value_errors_name_the_field(url: str) -> None:
    serde = serdes.avro(url, USER)
    with pytest.raises(SerdeError) as caught:
        serde.serialize(unique("bad"), {"name": "ada", "age": "old"})
    assert "cannot serialize the value" in str(caught.value) and "age" in str(caught.value)


def test_avro_lookup_only_and_latest_version(url: str) -> None:
    topic = unique("lookup")
    lookup = serdes.avro(url, USER, auto_register=False)
    with pytest.raises(SerdeError) as caught:
        lookup.serialize(topic, {"name": "x", "age": 1})
    assert "answered 404" in str(caught.value)
    registered = serdes.avro(url, USER).serialize(topic, {"name": "x", "age": 1})
    assert registered is not None
    assert lookup.serialize(topic, {"name": "x", "age": 1}) == registered
    latest = serdes.avro(url, auto_register=False, use_latest_version=True)
    assert latest.serialize(topic, {"name": "x", "age": 1}) == registered


@pytest.mark.parametrize(("strategy", "subject"), [
    ("record", f"{NAMESPACE}.User"),
    ("topic_record", "{topic}-" + f"{NAMESPACE}.User"),
])
def test_avro_subject_name_strategies(url: str, strategy: str, subject: str) -> None:
    topic = unique("strategy")
    name = unique("User").replace("-", "_")
    schema = dict(USER, name=name)
    serde = serdes.avro(url, schema, subject_name_strategy=strategy)
    payload = serde.serialize(topic, {"name": "a", "age": 1})
    expected = subject.format(topic=topic).replace(".User", f".{name}")
    assert payload is not None and framed(payload)[1] == latest_id(url, expected)
    assert versions(url, f"{topic}-value") == []


def test_json_schema_round_trip_and_validation(url: str) -> None:
    topic = unique("orders")
    serde = serdes.json_schema(url, ORDER_JSON)
    order = {"id": 7, "items": ["tea", "cake"]}
    payload = serde.serialize(topic, order)
    assert payload is not None
    magic, schema_id, body = framed(payload)
    assert (magic, schema_id) == (0, latest_id(url, f"{topic}-value"))
    assert json.loads(body) == order
    assert serde.deserialize(topic, payload) == order
    assert serdes.json_schema(url).deserialize(topic, payload) == order  # by the writer's schema
    with pytest.raises(SerdeError) as caught:
        serde.serialize(topic, {"id": "seven"})
    assert "'seven' is not of type 'integer'" in str(caught.value)
    with pytest.raises(SerdeError, match="has no schema"):
        serdes.json_schema(url).serialize(topic, order)


def order_class(package: str) -> tuple[Any, Any]:
    """Generated-style classes Order and Money of a fresh .proto pair (order.proto imports
    money.proto), named after ``package`` so that every test registers files of its own."""
    package = package.replace("-", "_")
    proto_file = descriptor_pb2.FileDescriptorProto
    money = proto_file(name=f"{package}/money.proto", package=package, syntax="proto3")
    m = money.message_type.add(name="Money")
    m.field.add(name="cents", number=1, type=Field.TYPE_INT64, label=Field.LABEL_OPTIONAL)
    m.field.add(name="currency", number=2, type=Field.TYPE_STRING, label=Field.LABEL_OPTIONAL)
    order = proto_file(name=f"{package}/order.proto", package=package, syntax="proto3",
                       dependency=[money.name])
    o = order.message_type.add(name="Order")
    o.field.add(name="id", number=1, type=Field.TYPE_INT64, label=Field.LABEL_OPTIONAL)
    o.field.add(name="total", number=2, type=Field.TYPE_MESSAGE, label=Field.LABEL_OPTIONAL,
                type_name=f".{package}.Money")
    o.field.add(name="items", number=3, type=Field.TYPE_STRING, label=Field.LABEL_REPEATED)
    o.nested_type.add(name="Line").field.add(name="sku", number=1, type=Field.TYPE_STRING,
                                             label=Field.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(money)
    pool.Add(order)
    return (GetMessageClass(pool.FindMessageTypeByName(f"{package}.Order")),
            GetMessageClass(pool.FindMessageTypeByName(f"{package}.Money")))


def test_protobuf_round_trip_with_an_import(url: str) -> None:
    topic = unique("proto")
    package = unique("shop").replace("-", "_")
    order_cls, money_cls = order_class(package)
    serde = serdes.protobuf(url, order_cls)
    order = order_cls(id=1, total=money_cls(cents=250, currency="EUR"), items=["tea"])
    payload = serde.serialize(topic, order)
    assert payload is not None
    magic, schema_id, rest = framed(payload)
    assert (magic, schema_id) == (0, latest_id(url, f"{topic}-value"))
    assert rest == b"\x00" + order.SerializeToString()  # message index [0]: one 0 byte
    assert serde.deserialize(topic, payload) == order
    assert versions(url, f"{package}/money.proto") == [1]  # the import, registered as a reference
    as_dict = serde.serialize(topic, {"id": 1, "total": {"cents": 250, "currency": "EUR"}, "items": ["tea"]})
    assert as_dict == payload
    line = serdes.protobuf(url, order_cls.Line).serialize(unique("lines"), order_cls.Line(sku="x"))
    assert line is not None and line[5:8] == bytes([4, 0, 0])  # message indexes [0, 0]
    with pytest.raises(SerdeError, match=f"expects a {package}.Order message"):
        serde.serialize(topic, money_cls(cents=1))
    with pytest.raises(SerdeError, match="no field named \"nope\""):
        serde.serialize(topic, {"nope": 1})


# --- across clients, through a topic --------------------------------------------------------------------


@pytest.fixture
def registry_bootstrap(streamlog_registry_broker: EmbeddedBroker) -> str:
    return f"{streamlog_registry_broker.host}:{streamlog_registry_broker.port}"


@pytest.fixture
def confluent_client(url: str) -> Iterator[SchemaRegistryClient]:
    yield SchemaRegistryClient({"url": url})


def through_topic(bootstrap: str, topic: str, values: list[bytes]) -> list[bytes]:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for value in values:
        producer.produce(topic, value=value, partition=0)
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("g"),
                         "enable.auto.commit": False})
    got: list[bytes] = []
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        for _ in range(150):
            if len(got) == len(values):
                break
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                got.append(message.value())
    finally:
        consumer.close()
    assert got == values
    return got


def test_records_cross_with_confluents_own_serdes(registry_bootstrap: str, url: str,
                                                  confluent_client: SchemaRegistryClient) -> None:
    topic = unique("cross")
    ctx = SerializationContext(topic, MessageField.VALUE)
    ours: RegistrySerde = serdes.avro(url, USER)
    theirs = AvroSerializer(confluent_client, json.dumps(USER))
    written = [ours.serialize(topic, {"name": "ours", "age": 1}), theirs({"name": "theirs", "age": 2}, ctx)]
    assert all(isinstance(w, bytes) for w in written)
    read = through_topic(registry_bootstrap, topic, [w for w in written if w is not None])
    reader = AvroDeserializer(confluent_client)
    both = [{"name": "ours", "age": 1}, {"name": "theirs", "age": 2}]
    assert [reader(r, ctx) for r in read] == both
    assert [ours.deserialize(topic, r) for r in read] == both
    assert framed(read[0])[1] == framed(read[1])[1]  # one schema, one id, whoever registered it
