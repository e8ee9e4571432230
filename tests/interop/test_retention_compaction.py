"""Retention and log compaction seen by real clients (confluent-kafka / librdkafka) over TCP.

* A compacted topic with 20,000 updates over a few hundred keys plus tombstones: after cleaning, a
  read from the beginning yields the latest value of every live key, in increasing offsets, far
  fewer records than were written, and no deleted key once delete.retention.ms has passed; a
  consumer that was caught up all along saw every write.
* Records without a key are rejected on a compacted topic (INVALID_RECORD).
* Time retention, switched on at runtime with IncrementalAlterConfigs: old segments go, the log start
  offset moves, and a consumer positioned before it gets OFFSET_OUT_OF_RANGE and resets as its
  auto.offset.reset says (earliest, latest, or an error).
* SIGKILL while the cleaner runs leaves a readable, correct log after restart.

These need broker settings (short retention check interval and cleaner backoff), so they run their
own Streamlog brokers rather than the session one.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType
from tests.support.brokerproc import BrokerProcess, broker_target
from tests.support.interop import admin_client, create_topic, unique_name

pytestmark = pytest.mark.skipif(broker_target() != "streamlog", reason="needs Streamlog broker settings")

SETTINGS = {"log.retention.check.interval.ms": "300", "log.cleaner.backoff.ms": "200"}
Rec = tuple[int, bytes | None, bytes | None]  # offset, key, value


@pytest.fixture(scope="module")
def maintained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    base = tmp_path_factory.mktemp("maintenance")
    proc = BrokerProcess(data_dir=base / "data", settings=SETTINGS, log_path=base / "broker.log")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def produce_all(bootstrap: str, topic: str, pairs: list[tuple[bytes, bytes | None]]) -> list[Rec]:
    """Produce (key, value) pairs to partition 0 in order; returns what was acknowledged, by offset."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all",
                         "enable.idempotence": True, "batch.num.messages": 200})
    acked: list[Rec] = []
    errors: list[KafkaError] = []

    def report(err: KafkaError | None, msg: object) -> None:
        if err is not None:
            errors.append(err)
        else:
            acked.append((msg.offset(), msg.key(), msg.value()))  # type: ignore[attr-defined]

    for key, value in pairs:
        while True:
            try:
                producer.produce(topic, value, key, partition=0, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    assert producer.flush(60) == 0
    assert errors == []
    return sorted(acked)


def read_all(bootstrap: str, topic: str, timeout: float = 30.0) -> list[Rec]:
    """Every record of partition 0 from the log start up to the high watermark."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_name("reader"),
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "auto.offset.reset": "earliest"})
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        out: list[Rec] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF and msg.offset() >= high:
                    return out
                if msg.error().code() != KafkaError._PARTITION_EOF:
                    raise AssertionError(msg.error())
                continue
            out.append((msg.offset(), msg.key(), msg.value()))
        raise AssertionError(f"did not reach offset {high} of {topic}; got {len(out)} records")
    finally:
        consumer.close()


class Tail(threading.Thread):
    """A consumer that keeps up with the partition from offset 0, collecting every record."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(daemon=True)
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_name("tail"),
                                  "enable.auto.commit": False, "auto.offset.reset": "error",
                                  "fetch.wait.max.ms": 50})
        self.consumer.assign([TopicPartition(topic, 0, 0)])
        self.seen: list[Rec] = []
        self.errors: list[KafkaError] = []
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                msg = self.consumer.poll(0.1)
                if msg is None:
                    continue
                if msg.error():
                    self.errors.append(msg.error())
                    continue
                self.seen.append((msg.offset(), msg.key(), msg.value()))
        finally:
            self.consumer.close()


def wait_for(condition, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def latest(records: list[Rec]) -> dict[bytes | None, bytes | None]:
    out: dict[bytes | None, bytes | None] = {}
    for _, key, value in records:
        out[key] = value
    return out


def test_compacted_topic_keeps_latest_value_of_every_key(maintained: BrokerProcess) -> None:
    bootstrap = maintained.bootstrap
    topic = unique_name("compacted")
    # min.compaction.lag.ms is what lets a consumer that keeps up see every write (as in Kafka).
    create_topic(bootstrap, topic, 1, {"cleanup.policy": "compact", "segment.bytes": "32768",
                                       "delete.retention.ms": "3000", "min.compaction.lag.ms": "2000"})
    tail = Tail(bootstrap, topic)
    tail.start()
    keys = [f"key-{i:03d}".encode() for i in range(300)]
    deleted = set(keys[:60])
    updates = [(keys[i % len(keys)], f"value-{i}".encode()) for i in range(20_000)]
    tombstones: list[tuple[bytes, bytes | None]] = [(k, None) for k in sorted(deleted)]
    more = [(keys[60 + i % 240], f"later-{i}".encode()) for i in range(3_000)]  # tombstones leave the head
    written = produce_all(bootstrap, topic, updates + tombstones + more)
    assert [o for o, _, _ in written] == list(range(len(updates) + len(tombstones) + len(more)))
    expected = {k: v for k, v in latest(written).items() if v is not None}
    assert set(expected) == set(keys) - deleted

    def cleaned() -> list[Rec] | None:
        got = read_all(bootstrap, topic)
        last = latest(got)
        live = {k: v for k, v in last.items() if v is not None}
        return got if len(got) < len(written) // 5 and live == expected else None

    first = wait_for(cleaned, 60, "the first cleaning")
    offsets = [o for o, _, _ in first]
    assert offsets == sorted(set(offsets))
    by_offset = {o: (k, v) for o, k, v in written}
    assert all(by_offset[o] == (k, v) for o, k, v in first)  # offsets never change

    def tombstones_gone() -> list[Rec] | None:
        got = read_all(bootstrap, topic)
        return got if not {k for _, k, _ in got} & deleted else None

    final = wait_for(tombstones_gone, 60, "the tombstones to pass delete.retention.ms")
    assert latest(final) == expected
    assert len(final) < len(written) // 20
    assert [o for o, _, _ in final] == sorted({o for o, _, _ in final})
    assert all(by_offset[o] == (k, v) for o, k, v in final)
    wait_for(lambda: len(tail.seen) >= len(written), 30, "the tailing consumer")
    tail.stop.set()
    tail.join(10)
    assert tail.errors == []
    assert tail.seen == written  # caught up all along: it saw every write


def test_keyless_records_rejected_on_compacted_topic(maintained: BrokerProcess) -> None:
    bootstrap = maintained.bootstrap
    topic = unique_name("keyless")
    create_topic(bootstrap, topic, 1, {"cleanup.policy": "compact"})
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "retries": 0})
    outcome: list[KafkaError | None] = []
    producer.produce(topic, b"no key", partition=0, on_delivery=lambda err, _msg: outcome.append(err))
    producer.flush(20)
    (err,) = outcome
    assert err is not None and err.code() == KafkaError.INVALID_RECORD
    producer.produce(topic, b"keyed", b"k", partition=0, on_delivery=lambda err, _msg: outcome.append(err))
    producer.flush(20)
    assert outcome[-1] is None


def low_watermark(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_name("wm")})
    try:
        low, _ = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        return int(low)
    finally:
        consumer.close()


def first_message(bootstrap: str, topic: str, reset: str, *, keep_producing: bool = False):  # type: ignore[no-untyped-def]
    """Assign at offset 0 with `reset` as auto.offset.reset; the first message or error seen. With
    `keep_producing`, a new record is produced every second meanwhile."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_name("reset"),
                         "enable.auto.commit": False, "auto.offset.reset": reset})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + 20
        next_produce = time.monotonic() + 1
        while time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None:
                return msg
            if keep_producing and time.monotonic() > next_produce:
                produce_all(bootstrap, topic, [(b"fresh", b"after-reset")])
                next_produce = time.monotonic() + 1
        raise AssertionError("no message or error")
    finally:
        consumer.close()


def test_retention_moves_log_start_and_consumers_reset(maintained: BrokerProcess) -> None:
    bootstrap = maintained.bootstrap
    topic = unique_name("retained")
    create_topic(bootstrap, topic, 1, {"segment.bytes": "4096"})
    written = produce_all(bootstrap, topic, [(f"k{i}".encode(), b"x" * 100) for i in range(600)])
    time.sleep(1.5)  # several retention checks: nothing is old enough under the default 7 days
    assert low_watermark(bootstrap, topic) == 0
    admin = admin_client(bootstrap)
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource])[resource].result(timeout=20)
    start = wait_for(lambda: low_watermark(bootstrap, topic), 30, "retention to move the log start")
    assert 0 < start <= len(written)
    got = read_all(bootstrap, topic)
    assert got and got[0][0] == start and got == [r for r in written if r[0] >= start]
    assert "retention: " + topic in maintained.log_text()

    earliest = first_message(bootstrap, topic, "earliest")
    assert earliest.error() is None and earliest.offset() == start
    error = first_message(bootstrap, topic, "error")
    assert error.error() is not None and error.error().code() == KafkaError._AUTO_OFFSET_RESET
    newest = first_message(bootstrap, topic, "latest", keep_producing=True)
    assert newest.error() is None and newest.value() == b"after-reset" and newest.offset() >= len(written)


def set_policy(bootstrap: str, topic: str, policy: str) -> None:
    admin = admin_client(bootstrap)
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("cleanup.policy", policy, incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource])[resource].result(timeout=20)


@pytest.mark.slow
def test_sigkill_while_cleaning_leaves_correct_log(tmp_path: Path) -> None:
    """Each round writes with cleanup.policy=delete, then switches the topic to compact, so that one
    big cleaning starts at a known moment; the broker is killed at a random point of it."""
    settings = {"log.cleaner.backoff.ms": "100", "log.retention.check.interval.ms": "100000"}
    proc = BrokerProcess(data_dir=tmp_path / "data", settings=settings, log_path=tmp_path / "broker.log")
    with proc:
        topic = unique_name("killed")
        create_topic(proc.bootstrap, topic, 1, {"segment.bytes": "65536"})
        written: list[Rec] = []
        rng = random.Random(5)
        for round_ in range(4):
            set_policy(proc.bootstrap, topic, "delete")
            pairs = [(f"key-{rng.randrange(2_000)}".encode(), f"r{round_}-{i}".encode() * 4)
                     for i in range(25_000)]
            written += produce_all(proc.bootstrap, topic, pairs)
            marker = len(proc.log_text())
            set_policy(proc.bootstrap, topic, "compact")
            started = f"log cleaner: cleaning {topic}-0"
            wait_for(lambda m=marker, s=started: s in proc.log_text()[m:], 30, "the cleaner to start")  # type: ignore[misc]
            time.sleep(rng.random() * 0.3)
            proc.kill()
            proc.restart()
            got = read_all(proc.bootstrap, topic, timeout=60)
            by_offset = {o: (k, v) for o, k, v in written}
            assert [o for o, _, _ in got] == sorted({o for o, _, _ in got})
            assert all(by_offset[o] == (k, v) for o, k, v in got), "a record changed or appeared"
            assert latest(got) == latest(written), "the latest value of a key was lost"
            assert got[-1][0] == written[-1][0]
        wait_for(lambda: "log cleaner: cleaned " + topic in proc.log_text(), 60, "a complete cleaning")
        final = read_all(proc.bootstrap, topic, timeout=60)
        assert latest(final) == latest(written) and len(final) < len(written) // 4
