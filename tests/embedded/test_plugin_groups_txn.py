"""Consumer groups and transactions through the pytest plugin's fixtures (short group timeouts)."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer


def _drain(consumer: Consumer, want: int, seconds: float = 30.0) -> list[bytes]:
    got: list[bytes] = []
    deadline = time.monotonic() + seconds
    while len(got) < want and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
            continue
        got.append(msg.value())
    return got


@pytest.mark.streamlog_topic(partitions=2)
def test_confluent_consumer_group_commits_and_resumes(streamlog_bootstrap: str, streamlog_topic: str) -> None:
    producer = Producer({"bootstrap.servers": streamlog_bootstrap})
    for i in range(20):
        producer.produce(streamlog_topic, key=f"k{i}".encode(), value=f"v{i}".encode())
    assert producer.flush(10) == 0
    group = f"g-{uuid.uuid4().hex[:8]}"
    config = {"bootstrap.servers": streamlog_bootstrap, "group.id": group, "auto.offset.reset": "earliest",
              "enable.auto.commit": False, "session.timeout.ms": 6000}
    first = Consumer(config)
    first.subscribe([streamlog_topic])
    values = _drain(first, 10)
    first.commit(asynchronous=False)
    first.close()
    assert len(values) >= 10
    second = Consumer(config)
    second.subscribe([streamlog_topic])
    rest = _drain(second, 20 - len(values))
    second.close()
    assert sorted(values + rest) == sorted(f"v{i}".encode() for i in range(20)), "no loss, no repeat"


def test_confluent_transaction_commit_and_abort(streamlog_bootstrap: str, streamlog_topic: str) -> None:
    producer = Producer({"bootstrap.servers": streamlog_bootstrap,
                         "transactional.id": f"tx-{uuid.uuid4().hex}"})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(streamlog_topic, value=b"committed")
    producer.commit_transaction(30)
    producer.begin_transaction()
    producer.produce(streamlog_topic, value=b"aborted")
    producer.abort_transaction(30)
    consumer = Consumer({"bootstrap.servers": streamlog_bootstrap, "group.id": f"r-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                         "enable.partition.eof": True})
    consumer.subscribe([streamlog_topic])
    seen: list[bytes] = []
    deadline = time.monotonic() + 30
    at_end = False
    while not at_end and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            at_end = msg.error().code() == KafkaError._PARTITION_EOF
            continue
        seen.append(msg.value())
    consumer.close()
    assert at_end
    assert seen == [b"committed"]


def test_aiokafka_group(streamlog_bootstrap: str, streamlog_topic: str) -> None:
    aiokafka = pytest.importorskip("aiokafka")

    async def run() -> list[bytes]:
        producer = aiokafka.AIOKafkaProducer(bootstrap_servers=streamlog_bootstrap)
        await producer.start()
        try:
            for i in range(5):
                await producer.send_and_wait(streamlog_topic, f"a{i}".encode())
        finally:
            await producer.stop()
        consumer = aiokafka.AIOKafkaConsumer(streamlog_topic, bootstrap_servers=streamlog_bootstrap,
                                             group_id=f"ag-{uuid.uuid4().hex[:8]}",
                                             auto_offset_reset="earliest")
        await consumer.start()
        try:
            got: list[bytes] = []
            deadline = time.monotonic() + 30
            while len(got) < 5 and time.monotonic() < deadline:
                for msgs in (await consumer.getmany(timeout_ms=500)).values():
                    got.extend(m.value for m in msgs)
            await consumer.commit()
            return got
        finally:
            await consumer.stop()

    assert asyncio.run(run()) == [f"a{i}".encode() for i in range(5)]


def test_kafka_python_group(streamlog_bootstrap: str, streamlog_topic: str) -> None:
    kafka = pytest.importorskip("kafka")
    producer = kafka.KafkaProducer(bootstrap_servers=streamlog_bootstrap)
    for i in range(5):
        producer.send(streamlog_topic, f"p{i}".encode()).get(timeout=10)
    producer.close()
    consumer = kafka.KafkaConsumer(streamlog_topic, bootstrap_servers=streamlog_bootstrap,
                                   group_id=f"kg-{uuid.uuid4().hex[:8]}", auto_offset_reset="earliest",
                                   consumer_timeout_ms=10000)
    values = []
    for msg in consumer:
        values.append(msg.value)
        if len(values) == 5:
            break
    consumer.commit()
    consumer.close()
    assert values == [f"p{i}".encode() for i in range(5)]
