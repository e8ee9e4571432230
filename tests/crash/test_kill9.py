"""Crash safety, tested by crashing: SIGKILL the broker under load and check what was acknowledged.

Every record acknowledged with acks=all must be readable after restart at exactly the offset the
broker acknowledged.  A torn or corrupt tail batch must be cut by recovery, and the broker must then
accept writes again at the right offsets.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from tests.support.brokerproc import BrokerProcess, broker_target

pytestmark = pytest.mark.skipif(broker_target() != "streamlog",
                                reason="needs a Streamlog broker on a data dir")


def create_topic(bootstrap: str, name: str, partitions: int, config: dict[str, str] | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])
    futures[name].result(timeout=20)


def read_all(bootstrap: str, topic: str, partitions: int,
             timeout: float = 30.0) -> dict[int, dict[int, bytes]]:
    """Every record of the topic: partition -> offset -> value, reading up to the high watermarks."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "crash-reader",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in range(partitions)}
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        out: dict[int, dict[int, bytes]] = {p: {} for p in range(partitions)}
        done = {p for p, end in ends.items() if end == 0}
        deadline = time.monotonic() + timeout
        while len(done) < partitions and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    if msg.offset() >= ends[msg.partition()]:
                        done.add(msg.partition())
                    continue
                raise AssertionError(msg.error())
            out[msg.partition()][msg.offset()] = msg.value()
            if msg.offset() + 1 >= ends[msg.partition()]:
                done.add(msg.partition())
        assert len(done) == partitions, f"did not reach the end of every partition: {ends} {done}"
        return out
    finally:
        consumer.close()


@pytest.mark.slow
def test_acknowledged_records_survive_repeated_sigkill(tmp_path: Path) -> None:
    topic = "crash-acks"
    partitions = 3
    rounds = int(os.environ.get("STREAMLOG_CRASH_ROUNDS", "6"))
    acked: list[tuple[int, int, bytes]] = []
    lock = threading.Lock()
    stop = threading.Event()

    with BrokerProcess(data_dir=tmp_path / "data") as broker:
        create_topic(broker.bootstrap, topic, partitions)
        producer = Producer({
            "bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 2,
            "message.timeout.ms": 120000, "retry.backoff.ms": 50, "reconnect.backoff.ms": 50,
            "reconnect.backoff.max.ms": 200, "enable.idempotence": False,
        })

        def on_delivery(err: object, msg: object) -> None:
            if err is None:
                with lock:
                    acked.append((msg.partition(), msg.offset(), msg.value()))  # type: ignore[attr-defined]

        def produce_loop() -> None:
            i = 0
            while not stop.is_set():
                try:
                    producer.produce(topic, key=f"key-{i % 50}".encode(), value=f"value-{i}".encode(),
                                     on_delivery=on_delivery)
                    i += 1
                except BufferError:
                    producer.poll(0.05)
                    continue
                if i % 20 == 0:
                    producer.poll(0.001)
                    time.sleep(0.002)

        thread = threading.Thread(target=produce_loop, daemon=True)
        thread.start()
        try:
            for _ in range(rounds):
                time.sleep(0.7)
                with lock:
                    before = len(acked)
                broker.kill()
                time.sleep(0.1)
                broker.restart()
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    producer.poll(0.1)
                    with lock:
                        if len(acked) > before:
                            break
                with lock:
                    assert len(acked) > before, "producing resumed after the restart"
        finally:
            stop.set()
            thread.join(timeout=10)
        assert producer.flush(60) == 0, "every produced record was eventually delivered"

        broker.kill()
        broker.restart()
        stored = read_all(broker.bootstrap, topic, partitions)

    assert len(acked) > 500
    missing = [(p, o, v) for p, o, v in acked if stored[p].get(o) != v]
    assert not missing, f"{len(missing)} acknowledged records lost or moved, e.g. {missing[:5]}"
    for p in range(partitions):
        offsets = sorted(stored[p])
        assert offsets == list(range(len(offsets))), "offsets are dense after recovery"
    assert broker.log_text().count("streamlog: listening on") == rounds + 2


def produce_batches(bootstrap: str, topic: str, count: int, prefix: str) -> list[int]:
    """Produce `count` records, one request (one batch) each; return their offsets."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
    offsets: list[int] = []

    def on_delivery(err: object, msg: object) -> None:
        assert err is None, err
        offsets.append(msg.offset())  # type: ignore[attr-defined]

    for i in range(count):
        producer.produce(topic, value=f"{prefix}-{i}".encode(), partition=0, on_delivery=on_delivery)
        producer.flush(10)
    return offsets


def active_segment(data_dir: Path, topic: str) -> Path:
    segments = sorted((data_dir / f"{topic}-0").glob("*.log"))
    assert segments, "the partition has a segment file"
    return segments[-1]


def test_torn_tail_is_truncated_and_writes_resume(tmp_path: Path) -> None:
    topic = "torn"
    data = tmp_path / "data"
    with BrokerProcess(data_dir=data) as broker:
        create_topic(broker.bootstrap, topic, 1)
        offsets = produce_batches(broker.bootstrap, topic, 20, "before")
        assert offsets == list(range(20))
        broker.kill()
        segment = active_segment(data, topic)
        good_size = segment.stat().st_size
        whole = segment.read_bytes()
        with segment.open("ab") as fh:  # a torn write: the first 40 bytes of a copy of the last batch
            fh.write(whole[-40:])
        broker.restart()
        assert segment.stat().st_size == good_size, "recovery cut the torn bytes"
        stored = read_all(broker.bootstrap, topic, 1)[0]
        assert [stored[o] for o in range(20)] == [f"before-{i}".encode() for i in range(20)]
        assert len(stored) == 20
        after = produce_batches(broker.bootstrap, topic, 5, "after")
        assert after == list(range(20, 25))
        assert "truncat" in broker.log_text().lower()


def test_corrupt_last_batch_is_dropped(tmp_path: Path) -> None:
    """Page-cache durability (flush.messages high): a bit flip in the unflushed tail batch is detected."""
    topic = "corrupt"
    data = tmp_path / "data"
    with BrokerProcess(data_dir=data, settings={"log.flush.interval.messages": "1000000"}) as broker:
        create_topic(broker.bootstrap, topic, 1)
        offsets = produce_batches(broker.bootstrap, topic, 10, "rec")
        assert offsets == list(range(10))
        broker.kill()
        segment = active_segment(data, topic)
        raw = bytearray(segment.read_bytes())
        raw[-3] ^= 0xFF  # inside the last batch's records: its CRC no longer matches
        segment.write_bytes(bytes(raw))
        broker.restart()
        stored = read_all(broker.bootstrap, topic, 1)[0]
        assert sorted(stored) == list(range(9)), "the corrupt last batch is gone, the rest is intact"
        assert produce_batches(broker.bootstrap, topic, 3, "new") == [9, 10, 11]
