"""Fetch sessions (KIP-227) and topic ids with real clients, over TCP.

kafka-python opens an incremental fetch session per broker and keeps it across fetches (Fetch v12),
sending only added, changed and forgotten partitions; librdkafka (confluent-kafka) never opens one
(session 0, epoch -1) but fetches at v16, by topic id.  The group test has two kafka-python members
in threads share a topic while one joins and leaves, so the first member's session loses partitions
(forgotten_topics_data) and gets them back, over many small fetches; every record must be read
exactly once.  kafka-python's own debug lines show that it really fetched incrementally.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, Producer
from tests.support.interop import Deadline, TopicFactory, unique_name

PARTITIONS = 6
RECORDS = 3000
TICK = threading.Event()  # never set: a bounded pause between checks of the members' progress


class SessionLog(logging.Handler):
    """kafka-python's fetch-session debug lines: what each incremental request added and removed."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.incremental: list[tuple[set[Any], set[Any]]] = []  # (added, removed) per request
        self.incremental_responses = 0

    def emit(self, record: logging.LogRecord) -> None:  # called under the handler's own lock
        msg = str(record.msg)
        if msg.startswith("Built incremental fetch") and isinstance(record.args, tuple):
            self.incremental.append((set(record.args[2]), set(record.args[4])))
        elif msg.startswith("Node %s sent an incremental fetch response for session"):
            self.incremental_responses += 1


def produce_all(bootstrap: str, topic: str, partitions: int, count: int = RECORDS, first: int = 0) -> None:
    """Records ``first`` .. ``first + count - 1``, record i to partition i % partitions."""
    failed: list[object] = []
    # Small batches, so that a consumer with a small max_partition_fetch_bytes fetches many times.
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "batch.num.messages": 5})
    for i in range(first, first + count):
        producer.produce(topic, value=b"v%d" % i, partition=i % partitions,
                         on_delivery=lambda err, _msg: err and failed.append(err))
    assert producer.flush(30) == 0 and not failed, failed


def test_kafka_python_group_reads_everything_once_through_incremental_sessions(
    bootstrap: str, topic_factory: TopicFactory
) -> None:
    import kafka  # type: ignore[import-untyped]

    topic = topic_factory.create(PARTITIONS)
    group = unique_name("sessions")
    seen: Counter[tuple[int, int]] = Counter()
    assigned: dict[str, set[int]] = {"a": set(), "b": set()}
    lock = threading.Lock()
    stop = {"a": threading.Event(), "b": threading.Event()}
    errors: list[BaseException] = []

    def member(name: str) -> None:
        consumer = kafka.KafkaConsumer(
            topic, bootstrap_servers=[bootstrap], group_id=group, client_id=f"sessions-{name}",
            enable_auto_commit=False, auto_offset_reset="earliest", max_partition_fetch_bytes=256,
            fetch_max_wait_ms=100, session_timeout_ms=10_000, heartbeat_interval_ms=500)
        try:
            while not stop[name].is_set():
                batches = consumer.poll(timeout_ms=100, max_records=50)
                with lock:
                    for records in batches.values():
                        for r in records:
                            seen[(r.partition, r.offset)] += 1
                    assigned[name] = {tp.partition for tp in consumer.assignment()}
                if batches:
                    consumer.commit()
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)
        finally:
            consumer.close()

    def until(what: str, done: Callable[[], bool]) -> None:
        while not done() and not errors:
            assert not deadline.expired(), f"timed out waiting until {what}: read {len(seen)}, {assigned}"
            TICK.wait(0.05)

    def read(n: int) -> Callable[[], bool]:
        return lambda: len(seen) >= n

    def holds(name: str, n: int) -> Callable[[], bool]:
        return lambda: len(assigned[name]) == n

    handler = SessionLog()
    fetcher_log = logging.getLogger("kafka.consumer.fetcher")
    old_level = fetcher_log.level
    fetcher_log.addHandler(handler)
    fetcher_log.setLevel(logging.DEBUG)
    threads = {name: threading.Thread(target=member, args=(name,), daemon=True) for name in stop}
    third = RECORDS // 3
    deadline = Deadline(90)
    try:
        produce_all(bootstrap, topic, PARTITIONS, third, 0)
        threads["a"].start()
        until("a read the first third", read(third))
        threads["b"].start()  # a rebalance: a's session forgets the partitions it gives up
        until("a and b share the topic", lambda: holds("a", 3)() and holds("b", 3)())
        produce_all(bootstrap, topic, PARTITIONS, third, third)
        until("a and b read the second third", read(2 * third))
        stop["b"].set()  # b leaves: a's session gets them back
        threads["b"].join(30)
        until("a holds everything again", holds("a", PARTITIONS))
        produce_all(bootstrap, topic, PARTITIONS, third, 2 * third)
        until("a read the rest", read(RECORDS))
    finally:
        for event in stop.values():
            event.set()
        for t in threads.values():
            if t.is_alive():
                t.join(30)
        fetcher_log.removeHandler(handler)
        fetcher_log.setLevel(old_level)
    assert not errors, errors
    assert len(seen) == RECORDS, f"read {len(seen)} of {RECORDS}"
    assert set(seen) == {(p, o) for p in range(PARTITIONS) for o in range(RECORDS // PARTITIONS)}
    assert [k for k, n in seen.items() if n > 1] == []  # nothing read twice
    assert handler.incremental_responses > 20, handler.incremental_responses  # sessions, many fetches
    assert any(removed for _added, removed in handler.incremental), "no partition was ever forgotten"
    assert any(added for added, _removed in handler.incremental), "no partition was ever added"


def test_confluent_consumer_reads_by_topic_id_at_fetch_v16(bootstrap: str,
                                                           topic_factory: TopicFactory) -> None:
    topic = topic_factory.create(3)
    produce_all(bootstrap, topic, 3)
    lines: list[str] = []
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_name("v16"),
                         "auto.offset.reset": "earliest", "enable.auto.commit": False, "debug": "protocol",
                         "logger": _Collect(lines)})
    got: Counter[tuple[int, int]] = Counter()
    try:
        consumer.subscribe([topic])
        deadline = Deadline(30)
        while len(got) < RECORDS and not deadline.expired():
            for msg in consumer.consume(500, timeout=0.5):
                assert msg.error() is None, msg.error()
                got[(msg.partition(), msg.offset())] += 1
    finally:
        consumer.close()
    assert len(got) == RECORDS and max(got.values()) == 1
    versions = {v for line in lines for v in re.findall(r"Sent FetchRequest \(v(\d+),", line)}
    assert versions == {"16"}, versions  # the highest librdkafka sends: topics by id


class _Collect:
    """A ``logging.Logger`` stand-in for librdkafka's ``logger`` setting: keeps the message text."""

    def __init__(self, into: list[str]) -> None:
        self.into = into

    def log(self, level: int, fmt: str, *args: Any) -> None:
        self.into.append(fmt % args if args else fmt)
