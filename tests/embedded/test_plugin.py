"""The pytest plugin's fixtures, driven by real clients (confluent-kafka, aiokafka, kafka-python)."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient


def _consume_all(bootstrap: str, topic: str, partitions: int, expected: int, **extra: object) -> list[tuple]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, **extra})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out = []
    deadline = time.monotonic() + 20
    try:
        while len(out) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
                continue
            out.append((msg.partition(), msg.offset(), msg.key(), msg.value()))
    finally:
        consumer.close()
    return out


def test_bootstrap_is_reachable(streamlog_bootstrap: str) -> None:
    admin = AdminClient({"bootstrap.servers": streamlog_bootstrap})
    md = admin.list_topics(timeout=10)
    assert md.brokers, "the embedded broker lists itself"
    (broker,) = md.brokers.values()
    assert f"{broker.host}:{broker.port}" == streamlog_bootstrap


@pytest.mark.streamlog_topic(partitions=3)
def test_confluent_produce_consume(streamlog_bootstrap: str, streamlog_topic: str) -> None:
    producer = Producer({"bootstrap.servers": streamlog_bootstrap, "acks": "all"})
    for i in range(30):
        producer.produce(streamlog_topic, key=f"k{i % 5}".encode(), value=f"v{i}".encode())
    assert producer.flush(10) == 0
    records = _consume_all(streamlog_bootstrap, streamlog_topic, 3, 30)
    assert len(records) == 30
    by_key: dict[bytes, set[int]] = {}
    for part, _off, key, _val in records:
        by_key.setdefault(key, set()).add(part)
    assert all(len(parts) == 1 for parts in by_key.values()), "one key, one partition"


def test_topic_is_fresh_per_test(streamlog_broker, streamlog_topic: str) -> None:
    assert streamlog_topic in streamlog_broker.topics()
    assert len(streamlog_broker.topics()) == 1, "reset removed the previous test's topics"


def test_factory_with_config(streamlog_bootstrap: str, streamlog_topic_factory) -> None:
    from confluent_kafka.admin import ConfigResource

    name = streamlog_topic_factory(partitions=2, config={"cleanup.policy": "compact"})
    admin = AdminClient({"bootstrap.servers": streamlog_bootstrap})
    md = admin.list_topics(name, timeout=10)
    assert len(md.topics[name].partitions) == 2
    res = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, name)])
    configs = next(iter(res.values())).result(timeout=10)
    assert configs["cleanup.policy"].value == "compact"


def test_kafka_python_roundtrip(streamlog_bootstrap: str, streamlog_topic: str) -> None:
    kafka = pytest.importorskip("kafka")
    producer = kafka.KafkaProducer(bootstrap_servers=streamlog_bootstrap, acks="all",
                                   enable_idempotence=False)
    for i in range(10):
        producer.send(streamlog_topic, key=b"k", value=f"v{i}".encode())
    producer.flush(10)
    producer.close()
    consumer = kafka.KafkaConsumer(bootstrap_servers=streamlog_bootstrap, consumer_timeout_ms=5000,
                                   auto_offset_reset="earliest")
    consumer.assign([kafka.TopicPartition(streamlog_topic, 0)])
    values = [m.value for m in consumer][:10]
    consumer.close()
    assert values == [f"v{i}".encode() for i in range(10)]


def test_aiokafka_roundtrip(streamlog_bootstrap: str, streamlog_topic: str) -> None:
    aiokafka = pytest.importorskip("aiokafka")

    async def run() -> list[bytes]:
        producer = aiokafka.AIOKafkaProducer(bootstrap_servers=streamlog_bootstrap)
        await producer.start()
        try:
            for i in range(10):
                await producer.send_and_wait(streamlog_topic, f"a{i}".encode())
        finally:
            await producer.stop()
        consumer = aiokafka.AIOKafkaConsumer(bootstrap_servers=streamlog_bootstrap,
                                             auto_offset_reset="earliest")
        await consumer.start()
        try:
            tp = aiokafka.TopicPartition(streamlog_topic, 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            got: list[bytes] = []
            deadline = time.monotonic() + 15
            while len(got) < 10 and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                for msgs in batch.values():
                    got.extend(m.value for m in msgs)
            return got
        finally:
            await consumer.stop()

    assert asyncio.run(run()) == [f"a{i}".encode() for i in range(10)]


def test_async_context_manager_and_data_dir(tmp_path) -> None:
    from streamlog import EmbeddedBroker

    async def run() -> str:
        async with EmbeddedBroker(data_dir=tmp_path / "data") as broker:
            broker.create_topic("durable", partitions=2)
            return broker.bootstrap_servers

    assert asyncio.run(run()).startswith("127.0.0.1:")
    with EmbeddedBroker(data_dir=tmp_path / "data") as again:
        assert "durable" in again.topics(), "topics survive a restart on a data dir"


def test_create_topic_rejects_bad_name(streamlog_broker) -> None:
    with pytest.raises(ValueError, match="characters"):
        streamlog_broker.create_topic("bad name!")
