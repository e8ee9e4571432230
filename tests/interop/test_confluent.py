"""confluent-kafka (librdkafka) against the broker: admin, every codec, timestamp lookup, DeleteRecords.

Theory of operation: each test talks to the session broker over TCP with librdkafka at its own highest
protocol versions.  Round trips use :func:`tests.support.kafka_clients.run_roundtrip`; the ListOffsets
tests write records with known timestamps (:mod:`tests.support.offsets`) and compare the broker's
answers with what Kafka defines: the first offset at or after a timestamp, earliest = log start offset,
latest = high watermark, both moved correctly by DeleteRecords.
"""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import OFFSET_END, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._listoffsets import ListOffsetsResultInfo, OffsetSpec
from confluent_kafka.cimpl import NewTopic
from tests.support.interop import (
    CODECS,
    Deadline,
    TopicFactory,
    admin_client,
    now_ms,
    unique_name,
    watermarks,
)
from tests.support.kafka_clients import CONFLUENT, confluent_consume, run_roundtrip
from tests.support.offsets import write_timestamped

pytestmark = pytest.mark.interop


def _list_offsets(admin: AdminClient, tp: TopicPartition, spec: OffsetSpec) -> ListOffsetsResultInfo:
    """One AdminClient.list_offsets answer, bounded in time."""
    info: ListOffsetsResultInfo = admin.list_offsets({tp: spec}, request_timeout=15)[tp].result(timeout=30)
    return info


# OffsetSpec's constructors carry no annotations; wrap them once.
_OFFSET_SPEC: Any = OffsetSpec


def _earliest() -> OffsetSpec:
    spec: OffsetSpec = _OFFSET_SPEC.earliest()
    return spec


def _latest() -> OffsetSpec:
    spec: OffsetSpec = _OFFSET_SPEC.latest()
    return spec


def _max_timestamp() -> OffsetSpec:
    spec: OffsetSpec = _OFFSET_SPEC.max_timestamp()
    return spec


def test_admin_creates_topic_and_rejects_duplicate(bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory.create(4)
    admin = admin_client(bootstrap)
    md = admin.list_topics(topic=topic, timeout=10)
    assert sorted(md.topics[topic].partitions) == [0, 1, 2, 3]
    assert all(p.leader >= 0 and p.replicas for p in md.topics[topic].partitions.values())
    duplicate = NewTopic(topic, num_partitions=1, replication_factor=1)
    futures = admin.create_topics([duplicate], request_timeout=20)
    with pytest.raises(KafkaException) as info:
        futures[topic].result(timeout=30)
    assert info.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS


@pytest.mark.parametrize("codec", CODECS)
def test_roundtrip(bootstrap: str, topic_factory: TopicFactory, codec: str) -> None:
    run_roundtrip(CONFLUENT, bootstrap, topic_factory.name(codec), codec)


def test_watermarks_track_produced_records(bootstrap: str, topic_factory: TopicFactory) -> None:
    """The high watermark is the last offset + 1 after every acknowledged batch, whatever its size."""
    topic = topic_factory.create(2)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 50})
    counts = {0: 0, 1: 0}
    for partition, size in [(0, 1), (0, 7), (1, 3), (0, 25), (1, 1), (1, 40)]:
        for i in range(size):
            producer.produce(topic, value=b"p%d-%d" % (partition, counts[partition] + i), partition=partition)
        assert producer.flush(30) == 0
        counts[partition] += size
        assert watermarks(bootstrap, topic, [0, 1]) == {0: (0, counts[0]), 1: (0, counts[1])}
        assert _list(bootstrap, topic, partition, _latest()) == counts[partition]
        assert _list(bootstrap, topic, partition, _earliest()) == 0
    got = confluent_consume(bootstrap, topic, {0: 0, 1: 0}, counts[0] + counts[1])
    for partition in (0, 1):
        values = [g.value for g in sorted(got, key=lambda g: g.offset) if g.partition == partition]
        assert values == [b"p%d-%d" % (partition, i) for i in range(counts[partition])]


def test_offsets_for_times(bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory.create(2)
    queries = write_timestamped(bootstrap, topic)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_name("oft")})
    try:
        for q in queries:
            query = TopicPartition(topic, q.partition, q.timestamp)
            [answer] = consumer.offsets_for_times([query], timeout=15)
            assert answer.error is None, answer.error
            want = OFFSET_END if q.offset is None else q.offset
            assert answer.offset == want, f"p{q.partition} ts={q.timestamp}: got {answer.offset}, want {want}"
    finally:
        consumer.close()


def test_admin_list_offsets_by_timestamp(bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory.create(2)
    queries = write_timestamped(bootstrap, topic)
    admin = admin_client(bootstrap)
    for q in queries:
        info = _list_offsets(admin, TopicPartition(topic, q.partition), OffsetSpec.for_timestamp(q.timestamp))
        want = -1 if q.offset is None else q.offset
        assert info.offset == want, f"p{q.partition} ts={q.timestamp}: got {info.offset}, want {want}"
        if q.record_ts is not None:
            assert info.timestamp == q.record_ts


def test_list_offsets_max_timestamp(bootstrap: str, topic_factory: TopicFactory) -> None:
    """KIP-734 (ListOffsets v7): the offset of the record with the largest timestamp, not the last one."""
    topic = topic_factory.create(1)
    base = now_ms() - 3_600_000
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i, delta in enumerate([0, 500, 200, 100]):
        producer.produce(topic, value=b"v%d" % i, partition=0, timestamp=base + delta)
        if i == 1:
            assert producer.flush(30) == 0
    assert producer.flush(30) == 0
    info = _list_offsets(admin_client(bootstrap), TopicPartition(topic, 0), _max_timestamp())
    assert (info.offset, info.timestamp) == (1, base + 500)


def _produce_values(bootstrap: str, topic: str, partition: int, values: list[bytes], batch: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
    for i, value in enumerate(values):
        producer.produce(topic, value=value, key=b"k", partition=partition)
        if (i + 1) % batch == 0:
            assert producer.flush(30) == 0
    assert producer.flush(30) == 0


def _list(bootstrap: str, topic: str, partition: int, spec: OffsetSpec) -> int:
    offset: int = _list_offsets(admin_client(bootstrap), TopicPartition(topic, partition), spec).offset
    return offset


def test_delete_records_moves_earliest_offset(bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory.create(2)
    _produce_values(bootstrap, topic, 0, [b"p0-%d" % i for i in range(10)], batch=5)
    _produce_values(bootstrap, topic, 1, [b"p1-%d" % i for i in range(6)], batch=6)
    admin = admin_client(bootstrap)

    # Delete inside the first batch of partition 0 (batch 0..4): the log start becomes 3.
    tp0 = TopicPartition(topic, 0, 3)
    deleted = admin.delete_records([tp0], request_timeout=20)[tp0].result(timeout=30)
    assert deleted.low_watermark == 3
    assert _list(bootstrap, topic, 0, _earliest()) == 3
    assert _list(bootstrap, topic, 0, _latest()) == 10
    assert watermarks(bootstrap, topic, [0, 1]) == {0: (3, 10), 1: (0, 6)}

    got = confluent_consume(bootstrap, topic, {0: 3}, 7)
    assert [(g.offset, g.value) for g in got] == [(i, b"p0-%d" % i) for i in range(3, 10)]

    # Delete everything in partition 1 (OFFSET_END means "up to the high watermark").
    tp1 = TopicPartition(topic, 1, OFFSET_END)
    assert admin.delete_records([tp1], request_timeout=20)[tp1].result(timeout=30).low_watermark == 6
    assert watermarks(bootstrap, topic, [0, 1]) == {0: (3, 10), 1: (6, 6)}
    assert _list(bootstrap, topic, 1, _earliest()) == 6

    # New writes continue after the high watermark; the log start stays.
    _produce_values(bootstrap, topic, 1, [b"p1-new"], batch=1)
    assert watermarks(bootstrap, topic, [1]) == {1: (6, 7)}
    assert [(g.offset, g.value) for g in confluent_consume(bootstrap, topic, {1: 6}, 1)] == [(6, b"p1-new")]


def test_fetch_below_log_start_is_out_of_range(bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory.create(1)
    _produce_values(bootstrap, topic, 0, [b"v%d" % i for i in range(6)], batch=3)
    tp = TopicPartition(topic, 0, 4)
    admin = admin_client(bootstrap)  # must outlive the future
    assert admin.delete_records([tp], request_timeout=20)[tp].result(timeout=30).low_watermark == 4
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": unique_name("oor"), "auto.offset.reset": "error"}
    )
    try:
        consumer.assign([TopicPartition(topic, 0, 1)])
        deadline = Deadline(20)
        error = None
        while error is None and not deadline.expired():
            msg = consumer.poll(0.5)
            if msg is not None:
                assert msg.error() is not None, f"read offset {msg.offset()} below the log start offset 4"
                error = msg.error()
        assert error is not None, "no error for a fetch below the log start offset"
        assert error.code() == KafkaError._AUTO_OFFSET_RESET, error
    finally:
        consumer.close()
