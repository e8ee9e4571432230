"""The registry fixtures, used exactly as docs/testing.md shows them."""

from __future__ import annotations

import httpx
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from streamlog.embedded import EmbeddedBroker

SCHEMA = '{"type": "record", "name": "Order", "fields": [{"name": "id", "type": "int"}]}'


def test_avro_round_trip(streamlog_registry_url: str, streamlog_registry_broker: EmbeddedBroker) -> None:
    registry = SchemaRegistryClient({"url": streamlog_registry_url})
    topic, bootstrap = "orders-avro-test", streamlog_registry_broker.bootstrap_servers
    context = SerializationContext(topic, MessageField.VALUE)
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(topic, AvroSerializer(registry, SCHEMA)({"id": 7}, context))
    producer.flush()
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "t", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    message = consumer.poll(10)
    assert message is not None and message.error() is None
    assert AvroDeserializer(registry)(message.value(), context) == {"id": 7}
    consumer.close()
    schema_id = int.from_bytes(message.value()[1:5], "big")
    assert registry.get_latest_version(f"{topic}-value").schema_id == schema_id


def test_the_registry_stores_in_its_broker(streamlog_registry_url: str,
                                           streamlog_registry_broker: EmbeddedBroker) -> None:
    answer = httpx.post(f"{streamlog_registry_url}/subjects/fixture-check-value/versions",
                        json={"schema": '"string"'})
    assert answer.status_code == 200
    assert "_schemas" in streamlog_registry_broker.topics()


def test_registry_url_needs_registry_true() -> None:
    with EmbeddedBroker() as broker, pytest.raises(RuntimeError, match="registry=True"):
        broker.registry_url  # noqa: B018
