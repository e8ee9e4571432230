"""A consumer's position on ``__transaction_state`` (and ``__consumer_offsets``) stays valid across a
broker restart.

Theory of operation: Kafka's compaction never renumbers offsets, so a reader of an internal topic
(Burrow-style tools, Kafka's formatters) may resume from where it stopped.  The data dir starts with
a ``__transaction_state`` of 9,999 records of three transactional ids (written through ``TxnLog``
before the broker starts: mostly superseded; with the first transaction's records, the shape that
once made the broker rewrite the log at the restart, numbering it from 0 again).  A confluent-kafka
consumer reads it to the end, a transaction commits, the consumer reads that too and stops; the
broker restarts and another transaction commits.  A new consumer assigned at the old position,
with ``auto.offset.reset=error`` (so a position past the end is an error, not a silent reset), must
read exactly the records written after it: the second transaction's, each once, at offsets past the
old position.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from tests.support.brokerproc import BrokerProcess, broker_target
from tests.support.interop import Deadline, unique_name

from streamlog.broker.txn_log import TxnLog
from streamlog.coordinator.txn import records
from streamlog.coordinator.txn.model import TxnMetadata

pytestmark = [pytest.mark.interop,
              pytest.mark.skipif(broker_target() != "streamlog", reason="needs Streamlog on a data dir")]
TXN_TOPIC = "__transaction_state"
PRELOADED = 9_999  # with the first transaction's records, 10,000 or more at the restart


def txn_id_of(key: bytes | None) -> str:
    """The first string of a key: the transactional id of a TransactionLogKey, the group of an
    OffsetCommitKey or GroupMetadataKey (all: an int16 version, then that string)."""
    assert key is not None
    _version, length = struct.unpack_from(">hh", key)
    return key[4:4 + length].decode()


def completed(value: bytes | None) -> bool:
    """A TransactionLogValue v0 in CompleteCommit (status 4, after version, producer id, epoch, timeout)."""
    return value is not None and value[16] == 4


def preload(data_dir: Path) -> None:
    log = TxnLog(data_dir, 1_700_000_000_000)
    try:
        # first: a consumer of librdkafka stops before a gap at the end (this record is left out)
        log.append(records.PRODUCER_IDS_KEY, records.producer_id_block_value(5_000), 1_700_000_000_000)
        for i in range(PRELOADED - 1):
            meta = TxnMetadata(f"preloaded-{i % 3}", producer_id=1 + i % 3, epoch=i // 3 % 30_000,
                               timeout_ms=60_000, update_ms=1_700_000_000_000)
            log.append(records.txn_key(meta.transactional_id), records.txn_value(meta), 1_700_000_000_000)
    finally:
        log.close()


def commit_one(bootstrap: str, topic: str, txn_id: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topic, b"v", partition=0)
    producer.commit_transaction(30)


def read(bootstrap: str, start: int, until: str | None,
         topic: str = TXN_TOPIC) -> tuple[list[tuple[int, str]], int]:
    """(offset, transactional id or group) of the records of ``topic`` from ``start`` to the high
    watermark (and, if given, past ``until``'s CompleteCommit, or a record of group ``until``), and the
    consumer's position then; fails on any consumer error, an out-of-range position among them."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_name("txn-reader"),
                         "enable.auto.commit": False, "auto.offset.reset": "error"})
    tp = TopicPartition(topic, 0)
    got: list[tuple[int, str]] = []
    try:
        consumer.assign([TopicPartition(topic, 0, start)])
        deadline, seen_until, position = Deadline(60), until is None, start
        while not deadline.expired():
            msg = consumer.poll(0.5)
            if msg is not None:
                assert msg.error() is None, f"consumer error at position {position}: {msg.error()}"
                txn_id = txn_id_of(msg.key())
                done = txn_id == until and (topic != TXN_TOPIC or completed(msg.value()))
                seen_until = seen_until or done
                got.append((int(msg.offset() or 0), txn_id))
                continue
            position = max(position, consumer.position([tp])[0].offset)  # idle: at the end?
            _low, high = consumer.get_watermark_offsets(tp, timeout=10, cached=False)
            if seen_until and position >= high:
                return got, position
        raise AssertionError(f"did not reach the end of {topic} from {start} (at {position})")
    finally:
        consumer.close()


def test_position_on_transaction_state_survives_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    preload(data_dir)
    first_txn, second_txn = unique_name("before-restart"), unique_name("after-restart")
    with BrokerProcess(data_dir=data_dir) as broker:
        admin_topic = unique_name("restart-topic")
        producer = Producer({"bootstrap.servers": broker.bootstrap})
        producer.produce(admin_topic, b"create", partition=0)  # auto-created, one partition
        assert producer.flush(30) == 0

        seen, position = read(broker.bootstrap, 0, None)
        assert len(seen) == PRELOADED - 1  # the producer-id reservation has no Kafka counterpart
        commit_one(broker.bootstrap, admin_topic, first_txn)
        tail, position = read(broker.bootstrap, position, first_txn)
        assert tail and all(txn_id == first_txn for _offset, txn_id in tail)

        broker.restart()
        commit_one(broker.bootstrap, admin_topic, second_txn)
        after, _end = read(broker.bootstrap, position, second_txn)

    offsets = [offset for offset, _txn_id in after]
    assert offsets and offsets[0] >= position, (position, offsets[:5])
    assert len(offsets) == len(set(offsets)), "a record read twice"
    assert {txn_id for _offset, txn_id in after} == {second_txn}, "read records from before the position"


def commit_offset(bootstrap: str, topic: str, group: str, offset: int) -> None:
    member = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        member.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=False)
    finally:
        member.close()


def test_position_on_consumer_offsets_survives_restart(tmp_path: Path) -> None:
    """The same for ``__consumer_offsets`` (compacted by the log cleaner, never rewritten at start)."""
    before_group, after_group = unique_name("before-restart"), unique_name("after-restart")
    with BrokerProcess(data_dir=tmp_path / "data") as broker:
        topic = unique_name("offsets-topic")
        producer = Producer({"bootstrap.servers": broker.bootstrap})
        producer.produce(topic, b"create", partition=0)
        assert producer.flush(30) == 0
        for offset in range(1, 51):  # 50 commits of one key: mostly superseded
            commit_offset(broker.bootstrap, topic, before_group, offset)
        seen, position = read(broker.bootstrap, 0, before_group, "__consumer_offsets")
        assert sum(1 for _offset, group in seen if group == before_group) >= 50

        broker.restart()
        commit_offset(broker.bootstrap, topic, after_group, 1)
        after, _end = read(broker.bootstrap, position, after_group, "__consumer_offsets")

    offsets = [offset for offset, _group in after]
    assert offsets and offsets[0] >= position and len(offsets) == len(set(offsets))
    assert {group for _offset, group in after} == {after_group}, "read records from before the position"
