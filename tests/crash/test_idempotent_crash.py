"""An idempotent producer keeps sending while the broker is SIGKILLed and restarted.

librdkafka keeps its producer id and sequence numbers across the broker's restarts and retries every
request that was in flight when the broker died.  Some of those were appended and fsynced before the
crash (the retry must be recognised as a duplicate, from producer state rebuilt from the log), some
were lost (the retry must be accepted).  Afterwards every value appears exactly once, in order within
its partition: no duplicates, no gaps.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from tests.support.brokerproc import BrokerProcess, broker_target
from tests.support.kafka_wire import WireClient

from streamlog.protocol.records.builder import NewRecord, build_batch

pytestmark = pytest.mark.skipif(broker_target() != "streamlog",
                                reason="needs a Streamlog broker on a data dir")

PARTITIONS = 2


def read_partitions(bootstrap: str, topic: str, timeout: float = 60.0) -> dict[int, list[bytes]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "idem-crash-reader",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in range(PARTITIONS)}
        consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        out: dict[int, list[bytes]] = {p: [] for p in range(PARTITIONS)}
        done = {p for p, end in ends.items() if end == 0}
        deadline = time.monotonic() + timeout
        while len(done) < PARTITIONS and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise AssertionError(error)
            part, offset = int(msg.partition() or 0), int(msg.offset() or 0)
            out[part].append(msg.value() or b"")
            if offset + 1 >= ends[part]:
                done.add(part)
        assert len(done) == PARTITIONS, f"did not reach the end: {ends}"
        return out
    finally:
        consumer.close()


@pytest.mark.slow
def test_no_duplicates_and_no_gaps_across_sigkills(tmp_path: Path) -> None:
    topic = "idem-crash"
    rounds = 5
    errors: list[str] = []
    acked = [0]
    lock = threading.Lock()
    stop = threading.Event()
    with BrokerProcess(data_dir=tmp_path / "data") as broker:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(timeout=20)
        producer = Producer({
            "bootstrap.servers": broker.bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 2,
            "batch.num.messages": 20, "message.timeout.ms": 180_000, "retry.backoff.ms": 50,
            "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 200,
        })

        def on_delivery(err: object, _msg: object) -> None:
            with lock:
                if err is not None:
                    errors.append(str(err))
                else:
                    acked[0] += 1

        sent = [0]

        def produce_loop() -> None:
            while not stop.is_set():
                i = sent[0]
                try:
                    producer.produce(topic, value=f"{i:08d}".encode(), partition=i % PARTITIONS,
                                     on_delivery=on_delivery)
                except BufferError:
                    producer.poll(0.05)
                    continue
                sent[0] += 1
                if i % 10 == 0:
                    producer.poll(0.001)
                    time.sleep(0.002)

        thread = threading.Thread(target=produce_loop, daemon=True)
        thread.start()
        try:
            for _ in range(rounds):
                time.sleep(0.8)
                with lock:
                    before = acked[0]
                broker.kill()
                time.sleep(0.1)
                broker.restart()
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    time.sleep(0.1)
                    with lock:
                        if acked[0] > before:
                            break
                with lock:
                    assert acked[0] > before, "producing resumed after the restart"
        finally:
            stop.set()
            thread.join(timeout=10)
        assert producer.flush(120) == 0, "every record was eventually delivered"
        assert not errors, f"delivery errors: {errors[:5]}"
        broker.kill()
        broker.restart()
        stored = read_partitions(broker.bootstrap, topic)

    total = sent[0]
    assert total > 1000 and acked[0] == total
    for p in range(PARTITIONS):
        expected = [f"{i:08d}".encode() for i in range(p, total, PARTITIONS)]
        values = stored[p]
        assert len(values) == len(set(values)), f"partition {p}: {len(values) - len(set(values))} duplicates"
        assert values == expected, f"partition {p}: gaps or reordering ({len(values)} of {len(expected)})"


def test_transaction_state_and_producer_ids_survive_sigkill(tmp_path: Path) -> None:
    """A committed transaction stays committed, an open one is still open after the crash (and is
    aborted once its timeout passes), and producer ids handed out before are never handed out again."""

    topic = "txn-crash"

    def txn_batch(pid: int, epoch: int, seq: int, value: bytes) -> bytes:
        return build_batch([NewRecord(None, value, int(time.time() * 1000))], producer_id=pid,
                           producer_epoch=epoch, base_sequence=seq, transactional=True)

    def produce(wire: WireClient, data: bytes) -> int:
        answer = wire.call(0, 8, {"transactional_id": None, "acks": -1, "timeout_ms": 30_000, "topic_data": [
            {"name": topic, "partition_data": [{"index": 0, "records": data}]}]})
        part = answer["responses"][0]["partition_responses"][0]
        assert part["error_code"] == 0, part
        return int(part["base_offset"])

    def add(wire: WireClient, txn_id: str, pid: int, epoch: int) -> None:
        answer = wire.call(24, 1, {"v3_and_below_transactional_id": txn_id, "v3_and_below_producer_id": pid,
                                   "v3_and_below_producer_epoch": epoch,
                                   "v3_and_below_topics": [{"name": topic, "partitions": [0]}]})
        (result,) = answer["results_by_topic_v3_and_below"][0]["results_by_partition"]
        assert result["partition_error_code"] == 0

    with BrokerProcess(data_dir=tmp_path / "data") as broker:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=20)
        with WireClient(broker.bootstrap) as wire:
            before = {wire.call(22, 1, {"transactional_id": None, "transaction_timeout_ms": 0})["producer_id"]
                      for _ in range(3)}
            good = wire.call(22, 1, {"transactional_id": "good", "transaction_timeout_ms": 60_000})
            add(wire, "good", good["producer_id"], good["producer_epoch"])
            produce(wire, txn_batch(good["producer_id"], good["producer_epoch"], 0, b"committed"))
            ended = wire.call(26, 1, {"transactional_id": "good", "producer_id": good["producer_id"],
                                      "producer_epoch": good["producer_epoch"], "committed": True})
            assert ended["error_code"] == 0
            open_ = wire.call(22, 1, {"transactional_id": "open", "transaction_timeout_ms": 2000})
            add(wire, "open", open_["producer_id"], open_["producer_epoch"])
            produce(wire, txn_batch(open_["producer_id"], open_["producer_epoch"], 0, b"left-open"))
            before |= {good["producer_id"], open_["producer_id"]}
        broker.kill()
        broker.restart()
        with WireClient(broker.bootstrap) as wire:
            after = {wire.call(22, 1, {"transactional_id": None, "transaction_timeout_ms": 0})["producer_id"]
                     for _ in range(3)}
            assert not before & after, "producer ids are never reused"
            states = wire.call(65, 0, {"transactional_ids": ["good", "open"]})["transaction_states"]
            assert [s["transaction_state"] for s in states] in (["CompleteCommit", "Ongoing"],
                                                                ["CompleteCommit", "CompleteAbort"])
        plain = Producer({"bootstrap.servers": broker.bootstrap})
        plain.produce(topic, b"plain", partition=0)
        assert plain.flush(30) == 0
        consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "txn-crash-reader",
                             "isolation.level": "read_committed", "enable.auto.commit": False})
        try:
            consumer.assign([TopicPartition(topic, 0, 0)])
            got: list[bytes] = []
            deadline = time.monotonic() + 30
            while b"plain" not in got and time.monotonic() < deadline:
                msg = consumer.poll(0.2)
                if msg is not None and msg.error() is None:
                    got.append(msg.value() or b"")
        finally:
            consumer.close()
        assert got == [b"committed", b"plain"]
