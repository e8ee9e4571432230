"""Writers and readers for the Python Kafka clients: confluent-kafka, kafka-python and aiokafka.

Theory of operation: every client gets the same three operations with the same shapes, so a test can
loop over clients:

* ``create_topic(bootstrap, topic, partitions)`` through the client's own admin API;
* ``produce(bootstrap, topic, records, codec) -> WriteSet`` with acks=all, the records sent in two
  halves with a flush between (so each partition gets more than one batch), recording the broker's
  (partition, offset) acknowledgement for each record;
* ``consume(bootstrap, topic, start, expected, timeout) -> list[Got]``: an assign()-based consumer (no
  consumer group: no JoinGroup, no commits) that starts at explicit offsets and polls until it has
  ``expected`` records or the deadline passes; a broker error fails the call at once.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from tests.support.interop import (
    CODECS,
    Deadline,
    Delivery,
    Got,
    Rec,
    WriteSet,
    check_roundtrip,
    create_topic,
    make_records,
    now_ms,
    unique_name,
    wait_for_topic,
)

ProduceFn = Callable[[str, str, Sequence[Rec], str], WriteSet]
ConsumeFn = Callable[[str, str, Mapping[int, int], int, float], list[Got]]
CreateFn = Callable[[str, str, int], None]


@dataclass(frozen=True, slots=True)
class ClientDriver:
    """One client's operations and what it can express."""

    name: str
    create_topic: CreateFn
    produce: ProduceFn
    consume: ConsumeFn
    codecs: tuple[str, ...] = CODECS
    explicit_timestamps: bool = True
    per_record_headers: bool = True
    binary_headers: bool = True


def _untyped(module: str) -> Any:
    """Import a client library that ships no type information (kafka-python, aiokafka)."""
    return importlib.import_module(module)


def _halves(records: Sequence[Rec]) -> list[list[tuple[int, Rec]]]:
    indexed = list(enumerate(records))
    mid = len(indexed) // 2
    return [indexed[:mid], indexed[mid:]]


# ------------------------------------------------------------------------------------- confluent-kafka
def confluent_produce(
    bootstrap: str, topic: str, records: Sequence[Rec], codec: str, *, partitioner: str | None = None
) -> WriteSet:
    """Produce with librdkafka; ``partitioner`` e.g. "murmur2_random" for the Java-compatible one."""
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "compression.type": codec,
        "linger.ms": 5,
        "message.timeout.ms": 30_000,
    }
    if partitioner:
        conf["partitioner"] = partitioner
    producer = Producer(conf)
    deliveries: list[Delivery | None] = [None] * len(records)
    errors: list[str] = []

    def report(index: int) -> Callable[[Any, Any], None]:
        def on_delivery(err: Any, msg: Any) -> None:
            if err is not None:
                errors.append(f"record {index}: {err}")
            else:
                deliveries[index] = Delivery(msg.partition(), msg.offset())

        return on_delivery

    started = now_ms()
    for half in _halves(records):
        for i, rec in half:
            kwargs: dict[str, Any] = {"key": rec.key, "value": rec.value, "headers": list(rec.headers)}
            if rec.timestamp_ms is not None:
                kwargs["timestamp"] = rec.timestamp_ms
            producer.produce(topic, on_delivery=report(i), **kwargs)
        remaining = producer.flush(30)
        assert remaining == 0, f"confluent producer: {remaining} records not acknowledged within 30 s"
    assert not errors, f"confluent producer errors: {errors[:5]}"
    return WriteSet("confluent", tuple(records), tuple(deliveries), started, now_ms())


def confluent_consume(
    bootstrap: str, topic: str, start: Mapping[int, int], expected: int, timeout: float = 30.0
) -> list[Got]:
    """Assign the partitions in ``start`` at their offsets and poll until ``expected`` records arrive."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            # librdkafka's consumer insists on a group id; assign() never joins or commits to it.
            "group.id": unique_name("assign-only"),
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "error",
            "enable.partition.eof": False,
        }
    )
    got: list[Got] = []
    try:
        consumer.assign([TopicPartition(topic, p, off) for p, off in sorted(start.items())])
        deadline = Deadline(timeout)
        while len(got) < expected and not deadline.expired():
            for msg in consumer.consume(num_messages=500, timeout=min(0.5, deadline.remaining())):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise AssertionError(f"confluent consumer error: {err}")
                ts_type, ts = msg.timestamp()
                partition, offset = msg.partition(), msg.offset()
                assert partition is not None and offset is not None, msg
                got.append(
                    Got(
                        partition=partition,
                        offset=offset,
                        key=msg.key(),
                        value=msg.value(),
                        headers=tuple(cast(list[tuple[str, bytes]], msg.headers() or [])),
                        timestamp_ms=ts,
                        timestamp_type={1: 0, 2: 1}.get(ts_type, -1),
                    )
                )
    finally:
        consumer.close()
    return got


def confluent_create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    create_topic(bootstrap, topic, partitions)


# ---------------------------------------------------------------------------------------- kafka-python
def kafka_python_create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    kafka_admin = _untyped("kafka.admin")
    admin = kafka_admin.KafkaAdminClient(bootstrap_servers=[bootstrap], request_timeout_ms=20_000)
    try:
        admin.create_topics([kafka_admin.NewTopic(topic, partitions, 1)], timeout_ms=15_000)
    finally:
        admin.close()
    wait_for_topic(bootstrap, topic, partitions)


def kafka_python_produce(bootstrap: str, topic: str, records: Sequence[Rec], codec: str) -> WriteSet:
    producer = _untyped("kafka").KafkaProducer(
        bootstrap_servers=[bootstrap],
        acks="all",
        compression_type=None if codec == "none" else codec,
        linger_ms=5,
        request_timeout_ms=30_000,
    )
    deliveries: list[Delivery | None] = [None] * len(records)
    started = now_ms()
    try:
        for half in _halves(records):
            futures = [
                (
                    i,
                    producer.send(
                        topic,
                        key=rec.key,
                        value=rec.value,
                        headers=list(rec.headers),
                        timestamp_ms=rec.timestamp_ms,
                    ),
                )
                for i, rec in half
            ]
            producer.flush(timeout=30)
            for i, fut in futures:
                meta = fut.get(timeout=30)
                deliveries[i] = Delivery(meta.partition, meta.offset)
    finally:
        producer.close(timeout=10)
    return WriteSet("kafka-python", tuple(records), tuple(deliveries), started, now_ms())


def kafka_python_consume(
    bootstrap: str, topic: str, start: Mapping[int, int], expected: int, timeout: float = 30.0
) -> list[Got]:
    kafka = _untyped("kafka")
    consumer = kafka.KafkaConsumer(
        bootstrap_servers=[bootstrap],
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="none",
    )
    got: list[Got] = []
    try:
        tps = {p: kafka.TopicPartition(topic, p) for p in start}
        consumer.assign(list(tps.values()))
        for p, off in start.items():
            consumer.seek(tps[p], off)
        deadline = Deadline(timeout)
        while len(got) < expected and not deadline.expired():
            batches = consumer.poll(timeout_ms=int(min(500, deadline.remaining() * 1000)), max_records=500)
            for records in batches.values():
                for r in records:
                    got.append(
                        Got(r.partition, r.offset, r.key, r.value, tuple(r.headers or ()), r.timestamp,
                            r.timestamp_type)
                    )
    finally:
        consumer.close()
    return got


# --------------------------------------------------------------------------------------------- aiokafka
def aiokafka_create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    async def run() -> None:
        aio_admin = _untyped("aiokafka.admin")
        admin = aio_admin.AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=20_000)
        await admin.start()
        try:
            await admin.create_topics([aio_admin.NewTopic(topic, partitions, 1)], timeout_ms=15_000)
        finally:
            await admin.close()

    asyncio.run(run())
    wait_for_topic(bootstrap, topic, partitions)


def aiokafka_produce(bootstrap: str, topic: str, records: Sequence[Rec], codec: str) -> WriteSet:
    async def run() -> list[Delivery | None]:
        producer = _untyped("aiokafka").AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            compression_type=None if codec == "none" else codec,
            linger_ms=5,
            request_timeout_ms=30_000,
        )
        await producer.start()
        deliveries: list[Delivery | None] = [None] * len(records)
        try:
            for half in _halves(records):
                futures = [
                    (
                        i,
                        await producer.send(
                            topic,
                            value=rec.value,
                            key=rec.key,
                            headers=list(rec.headers),
                            timestamp_ms=rec.timestamp_ms,
                        ),
                    )
                    for i, rec in half
                ]
                await producer.flush()
                for i, fut in futures:
                    meta = await asyncio.wait_for(fut, 30)
                    deliveries[i] = Delivery(meta.partition, meta.offset)
        finally:
            await producer.stop()
        return deliveries

    started = now_ms()
    deliveries = asyncio.run(run())
    return WriteSet("aiokafka", tuple(records), tuple(deliveries), started, now_ms())


def aiokafka_consume(
    bootstrap: str, topic: str, start: Mapping[int, int], expected: int, timeout: float = 30.0
) -> list[Got]:
    async def run() -> list[Got]:
        aiokafka = _untyped("aiokafka")
        consumer = aiokafka.AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="none",
        )
        await consumer.start()
        got: list[Got] = []
        try:
            tps = {p: aiokafka.TopicPartition(topic, p) for p in start}
            consumer.assign(list(tps.values()))
            for p, off in start.items():
                consumer.seek(tps[p], off)
            deadline = Deadline(timeout)
            while len(got) < expected and not deadline.expired():
                batches = await consumer.getmany(
                    timeout_ms=int(min(500, deadline.remaining() * 1000)), max_records=500
                )
                for records in batches.values():
                    for r in records:
                        got.append(
                            Got(r.partition, r.offset, r.key, r.value, tuple(r.headers or ()), r.timestamp,
                                r.timestamp_type)
                        )
        finally:
            await consumer.stop()
        return got

    return asyncio.run(run())


CONFLUENT = ClientDriver("confluent", confluent_create_topic, confluent_produce, confluent_consume)
KAFKA_PYTHON = ClientDriver(
    "kafka-python", kafka_python_create_topic, kafka_python_produce, kafka_python_consume
)
AIOKAFKA = ClientDriver("aiokafka", aiokafka_create_topic, aiokafka_produce, aiokafka_consume)


def run_roundtrip(driver: ClientDriver, bootstrap: str, topic: str, codec: str, partitions: int = 3) -> None:
    """Create ``topic`` with the driver's admin API, write keyed records with headers under ``codec``,
    read them back with the same client and check every broker guarantee (see interop.check_roundtrip)."""
    driver.create_topic(bootstrap, topic, partitions)
    records = make_records(
        driver.name,
        codec,
        explicit_timestamps=driver.explicit_timestamps,
        per_record_headers=driver.per_record_headers,
        binary=driver.binary_headers,
    )
    written = driver.produce(bootstrap, topic, records, codec)
    start = dict.fromkeys(range(partitions), 0)
    got = driver.consume(bootstrap, topic, start, len(records), 30.0)
    check_roundtrip([written], got, reader=driver.name, start=start)
