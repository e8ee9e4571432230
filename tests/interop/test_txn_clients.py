"""Transactions and idempotence with real clients: commit, abort, commit, then read both ways.

Each client (confluent-kafka, kafka-python, aiokafka, kafkajs) runs three transactions over a 2-partition
topic: commit, abort, commit.  Every transaction's records are flushed to the broker before it ends,
so the aborted records really are in the log.  A read_committed consumer must then see exactly the
committed records (never an aborted or a control record) and a read_uncommitted consumer every data
record.  kafka-python's default producer (idempotent since 3.x) must work unchanged.  Each client
sends the newest transaction API versions it knows (all inside Kafka 4.1's ranges, which the broker
advertises): librdkafka InitProducerId v4, AddPartitionsToTxn/AddOffsetsToTxn v0, EndTxn v1,
TxnOffsetCommit v3, Produce v10; kafka-python InitProducerId v4 and the others up to v3; aiokafka
v0; kafkajs v0-1.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from tests.support.external_clients import run_node
from tests.support.interop import TopicFactory, unique_name
from tests.support.kafka_wire import WireClient

PLAN = ((5, True), (7, False), (3, True))  # (records, commit?) per transaction
PARTITIONS = 2


def values_for(label: str) -> tuple[list[bytes], list[bytes]]:
    committed: list[bytes] = []
    everything: list[bytes] = []
    for t, (count, commit) in enumerate(PLAN):
        vals = [f"{label}-t{t}-{i}".encode() for i in range(count)]
        everything += vals
        if commit:
            committed += vals
    return committed, everything


def confluent_txns(bootstrap: str, topic: str, label: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": unique_name(label)})
    producer.init_transactions(30)
    for t, (count, commit) in enumerate(PLAN):
        producer.begin_transaction()
        for i in range(count):
            producer.produce(topic, f"{label}-t{t}-{i}".encode(), partition=i % PARTITIONS)
        assert producer.flush(30) == 0
        if commit:
            producer.commit_transaction(30)
        else:
            producer.abort_transaction(30)


def kafka_python_txns(bootstrap: str, topic: str, label: str) -> None:
    from kafka import KafkaProducer  # type: ignore[import-untyped]

    producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=unique_name(label))
    try:
        producer.init_transactions()
        for t, (count, commit) in enumerate(PLAN):
            producer.begin_transaction()
            futures = [producer.send(topic, f"{label}-t{t}-{i}".encode(), partition=i % PARTITIONS)
                       for i in range(count)]
            producer.flush()
            for fut in futures:
                fut.get(timeout=30)
            if commit:
                producer.commit_transaction()
            else:
                producer.abort_transaction()
    finally:
        producer.close(timeout=10)


def aiokafka_txns(bootstrap: str, topic: str, label: str) -> None:
    from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]

    async def run() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=unique_name(label))
        await producer.start()
        try:
            for t, (count, commit) in enumerate(PLAN):
                await producer.begin_transaction()
                for i in range(count):
                    value = f"{label}-t{t}-{i}".encode()
                    await producer.send_and_wait(topic, value, partition=i % PARTITIONS)
                if commit:
                    await producer.commit_transaction()
                else:
                    await producer.abort_transaction()
        finally:
            await producer.stop()

    asyncio.run(run())


def read_values(bootstrap: str, topic: str, isolation: str, expected: int, timeout: float = 20.0,
                partitions: int = PARTITIONS) -> list[bytes]:
    """Read the topic from the start; stop at EOF on every partition once ``expected`` arrived."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_name("txn-reader"),
                         "isolation.level": isolation, "enable.auto.commit": False,
                         "enable.partition.eof": True})
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        got: list[bytes] = []
        at_eof: set[int] = set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    at_eof.add(int(msg.partition() or 0))
                    if len(at_eof) == partitions and len(got) >= expected:
                        break
                    continue
                raise AssertionError(error)
            at_eof.discard(msg.partition())
            got.append(msg.value() or b"")
        return got
    finally:
        consumer.close()


def kafkajs_txns(bootstrap: str, topic: str, label: str) -> None:
    answer = run_node("txn-plan", {"bootstrap": bootstrap, "topic": topic, "label": label,
                                   "transactional_id": unique_name(label), "partitions": PARTITIONS,
                                   "plan": [[count, commit] for count, commit in PLAN]})
    assert answer == {"transactions": len(PLAN)}


WRITERS: dict[str, Callable[[str, str, str], None]] = {
    "confluent": confluent_txns,
    "kafka-python": kafka_python_txns,
    "aiokafka": aiokafka_txns,
    "kafkajs": kafkajs_txns,
}


@pytest.mark.parametrize("client", sorted(WRITERS))
def test_commit_abort_commit(client: str, bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory.create(PARTITIONS)
    WRITERS[client](bootstrap, topic, client)
    committed, everything = values_for(client)
    got = read_values(bootstrap, topic, "read_committed", len(committed))
    assert sorted(got) == sorted(committed)
    got_all = read_values(bootstrap, topic, "read_uncommitted", len(everything))
    assert sorted(got_all) == sorted(everything)


def test_kafka_python_default_producer_is_idempotent(bootstrap: str, topic_factory: TopicFactory) -> None:
    from kafka import KafkaProducer

    topic = topic_factory.create(1)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        futures = [producer.send(topic, f"v{i}".encode()) for i in range(50)]
        producer.flush()
        offsets = [f.get(timeout=30).offset for f in futures]
    finally:
        producer.close(timeout=10)
    assert offsets == list(range(50))
    with WireClient(bootstrap) as wire:
        answer = wire.call(61, 0, {"topics": [{"name": topic, "partition_indexes": [0]}]})
    (part,) = answer["topics"][0]["partitions"]
    assert part["error_code"] == 0
    (active,) = part["active_producers"]
    assert active["producer_id"] >= 0 and active["last_sequence"] == 49
    got = read_values(bootstrap, topic, "read_uncommitted", 50, partitions=1)
    assert got == [f"v{i}".encode() for i in range(50)]
