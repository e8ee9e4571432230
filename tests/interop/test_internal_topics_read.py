"""Consumers read ``__consumer_offsets`` and ``__transaction_state`` in Kafka's record formats.

Theory of operation: a group commits offsets (confluent-kafka, librdkafka's classic group protocol)
and a transactional producer commits a transaction; then kafka-python and confluent-kafka consumers
read the two internal topics from the start, and this file's own decoder, written from Kafka's
record schemas (OffsetCommitKey/Value, GroupMetadataKey/Value, TransactionLogKey/Value JSON in the
apache/kafka repository) and independent of the broker's code, must find the commit, the group and
the transaction in them, as Burrow or Kafka's offsets formatter would.
"""

from __future__ import annotations

import importlib
import struct
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from tests.support.interop import Deadline, TopicFactory, unique_name

pytestmark = pytest.mark.interop

kafka: Any = importlib.import_module("kafka")


class Reader:
    """Kafka's non-flexible primitives, big-endian."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def int(self, fmt: str) -> int:
        (value,) = struct.unpack_from(">" + fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return int(value)

    def string(self) -> str | None:
        n = self.int("h")
        if n < 0:
            return None
        text = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return text

    def blob(self) -> bytes:
        n = self.int("i")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def done(self) -> bool:
        return self.pos == len(self.data)


def decode_offsets_record(key: bytes, value: bytes | None) -> tuple[str, Any, Any]:
    k = Reader(key)
    version = k.int("h")
    if version in (0, 1):
        ident = (k.string(), k.string(), k.int("i"))
        assert k.done()
        if value is None:
            return "offset", ident, None
        v = Reader(value)
        vv = v.int("h")
        offset = v.int("q")
        epoch = v.int("i") if vv >= 3 else -1
        metadata = v.string()
        commit_ts = v.int("q")
        if vv == 1:
            v.int("q")
        assert v.done(), "trailing bytes in an offset value"
        return "offset", ident, (offset, epoch, metadata, commit_ts)
    assert version == 2, f"unknown key version {version}"
    group = k.string()
    assert k.done()
    if value is None:
        return "group", group, None
    v = Reader(value)
    vv = v.int("h")
    assert vv == 3
    protocol_type, generation = v.string(), v.int("i")
    protocol, leader, _state_ts = v.string(), v.string(), v.int("q")
    members = []
    for _ in range(v.int("i")):
        member_id, _instance, client_id, _host = v.string(), v.string(), v.string(), v.string()
        _rebalance, _session, _subscription, _assignment = v.int("i"), v.int("i"), v.blob(), v.blob()
        members.append((member_id, client_id))
    assert v.done(), "trailing bytes in a group value"
    return "group", group, (protocol_type, generation, protocol, leader, members)


def decode_txn_record(key: bytes, value: bytes | None) -> tuple[str | None, Any]:
    k = Reader(key)
    assert k.int("h") == 0
    txn_id = k.string()
    assert k.done()
    if value is None:
        return txn_id, None
    v = Reader(value)
    assert v.int("h") == 0
    pid, epoch, timeout, status = v.int("q"), v.int("h"), v.int("i"), v.int("b")
    partitions: list[tuple[str | None, list[int]]] | None = None
    count = v.int("i")
    if count >= 0:
        partitions = [(v.string(), [v.int("i") for _ in range(v.int("i"))]) for _ in range(count)]
    v.int("q")
    v.int("q")
    assert v.done(), "trailing bytes in a transaction value"
    return txn_id, (pid, epoch, timeout, status, partitions)


def read_all_kafka_python(bootstrap: str, topic: str, until: Any) -> list[tuple[bytes, bytes | None]]:
    consumer = kafka.KafkaConsumer(bootstrap_servers=[bootstrap], group_id=None, enable_auto_commit=False,
                                   request_timeout_ms=20_000)
    records: list[tuple[bytes, bytes | None]] = []
    try:
        tp = kafka.TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        deadline = Deadline(30)
        while not until(records) and not deadline.expired():
            for batch in consumer.poll(timeout_ms=500).values():
                records += [(r.key, r.value) for r in batch]
    finally:
        consumer.close()
    return records


def read_all_confluent(bootstrap: str, topic: str, until: Any) -> list[tuple[bytes, bytes | None]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_name("reader"),
                         "enable.auto.commit": False})
    records: list[tuple[bytes, bytes | None]] = []
    try:
        consumer.assign([TopicPartition(topic, 0, -2)])
        deadline = Deadline(30)
        while not until(records) and not deadline.expired():
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                records.append((msg.key(), msg.value()))
    finally:
        consumer.close()
    return records


def test_group_commits_read_from_consumer_offsets(bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory.create(2)
    group = unique_name("burrow")
    member = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                       "client.id": "reader-test"})
    try:
        member.subscribe([topic])
        deadline = Deadline(30)
        while not member.assignment() and not deadline.expired():
            member.poll(0.2)
        assert member.assignment()
        member.commit(offsets=[TopicPartition(topic, 0, 7), TopicPartition(topic, 1, 3)], asynchronous=False)
    finally:
        member.close()

    def decoded(records: list[tuple[bytes, bytes | None]]) -> list[tuple[str, Any, Any]]:
        return [decode_offsets_record(k, v) for k, v in records]

    def has_commit(records: list[tuple[bytes, bytes | None]]) -> bool:
        return any(kind == "offset" and ident == (group, topic, 1) and value is not None
                   for kind, ident, value in decoded(records))

    for reader in (read_all_kafka_python, read_all_confluent):
        found = decoded(reader(bootstrap, "__consumer_offsets", has_commit))
        commits = {ident: value for kind, ident, value in found if kind == "offset" and ident[0] == group}
        assert commits[(group, topic, 0)][:3] == (7, -1, "")
        assert commits[(group, topic, 1)][0] == 3
        groups = [value for kind, ident, value in found if kind == "group" and ident == group and value]
        assert groups, f"{reader.__name__}: no group metadata record"
        protocol_type, generation, protocol, leader, members = groups[0]
        assert (protocol_type, protocol) == ("consumer", "range") and generation >= 1
        assert leader in [m for m, _c in members] and ("reader-test" in [c for _m, c in members])


def test_transactions_read_from_transaction_state(bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory.create(1)
    txn_id = unique_name("txn-reader")
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topic, b"in-txn", partition=0)
    producer.commit_transaction(30)

    def states(records: list[tuple[bytes, bytes | None]]) -> list[Any]:
        return [value for name, value in (decode_txn_record(k, v) for k, v in records) if name == txn_id]

    def committed(records: list[tuple[bytes, bytes | None]]) -> bool:
        return any(s is not None and s[3] == 4 for s in states(records))  # 4 = CompleteCommit

    found = states(read_all_kafka_python(bootstrap, "__transaction_state", committed))
    assert committed_seen(found), found
    ongoing = [s for s in found if s[3] == 1]  # 1 = Ongoing, with the partition added
    assert ongoing and ongoing[-1][4] == [(topic, [0])]
    assert found[0][3] == 0 and found[0][4] is None  # Empty first, with no partitions (as Kafka writes it)
    assert len({s[0] for s in found}) == 1, "one producer id throughout"


def committed_seen(states: list[Any]) -> bool:
    return any(s is not None and s[3] == 4 for s in states)
