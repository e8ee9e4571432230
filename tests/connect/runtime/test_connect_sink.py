"""Sink tasks: the consumer group, resuming from the target's own offsets, the dead letter queue."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from tests.support import connect_plugins
from tests.support.streams_runtime import read_topic, wait_for

from streamlog.connect.runtime.states import State
from streamlog.connect.runtime.worker import Worker


def sink_config(name: str, db: Path, **extra: str) -> dict[str, str]:
    return {"name": name, "connector.class": "toy-sink", "sqlite.path": str(db),
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "false", **extra}


def produce(bootstrap: str, topic: str, values: list[bytes], partition: int | None = None) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for i, value in enumerate(values):
        extra = {} if partition is None else {"partition": partition}
        producer.produce(topic, key=str(i).encode(), value=value, **extra)
    assert producer.flush(10) == 0


def numbers(start: int, end: int) -> list[bytes]:
    return [json.dumps({"n": i}).encode() for i in range(start, end)]


def rows(db: Path) -> list[tuple[str, int, int, str]]:
    with sqlite3.connect(db) as conn:
        try:
            return [tuple(r) for r in conn.execute(  # type: ignore[misc]
                "SELECT topic, partition, offset, value FROM records ORDER BY topic, partition, offset")]
        except sqlite3.OperationalError:
            return []


def wait_rows(db: Path, count: int) -> list[tuple[str, int, int, str]]:
    def enough() -> list[tuple[str, int, int, str]] | None:
        found = rows(db)
        return found if len(found) >= count else None

    return wait_for(enough, 30, f"{count} rows in {db.name}")


def group_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        return [tp.offset for tp in consumer.committed([TopicPartition(topic, p) for p in range(partitions)],
                                                       timeout=10)]
    finally:
        consumer.close()


def test_sink_applies_records_and_resumes_from_the_target(
        make_worker: Callable[..., Worker], streamlog_bootstrap: str,
        streamlog_topic_factory: Callable[..., str], tmp_path: Path) -> None:
    topic = streamlog_topic_factory()
    db = tmp_path / "sink.db"
    produce(streamlog_bootstrap, topic, numbers(0, 10))
    worker = make_worker()
    worker.add_connector(sink_config("proj", db, topics=topic, **{"consumer.override.max.poll.records": "3"}))
    assert [r[2] for r in wait_rows(db, 10)] == list(range(10))
    assert worker.status("proj").type == "sink"
    wait_for(lambda: group_offsets(streamlog_bootstrap, "connect-proj", topic, 1) == [10], 20,
             "the group's committed offset (for lag monitoring)")
    assert worker.offsets("proj") == {"offsets": [
        {"partition": {"kafka_topic": topic, "kafka_partition": 0}, "offset": {"kafka_offset": 10}}]}
    worker.stop_connector("proj")
    # the database is the truth: forget offsets 7.. there; the group still says 10
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM records WHERE offset >= 7")
        conn.execute("UPDATE offsets SET next = 7")
    produce(streamlog_bootstrap, topic, numbers(10, 15))
    worker.resume("proj")
    found = wait_rows(db, 15)
    assert [r[2] for r in found] == list(range(15))
    assert [json.loads(r[3])["n"] for r in found] == list(range(15))


def test_topics_regex_and_two_tasks_share_the_partitions(
        make_worker: Callable[..., Worker], streamlog_bootstrap: str,
        streamlog_topic_factory: Callable[..., str], tmp_path: Path) -> None:
    topic = streamlog_topic_factory(partitions=4)
    db = tmp_path / "two.db"
    worker = make_worker()
    worker.add_connector(sink_config("pair", db, **{"topics.regex": topic.replace(".", "\\.")[:-3] + ".*",
                                                    "tasks.max": "2"}))

    def split() -> bool:
        held = [connect_plugins.ASSIGNED.get(("pair", task), set()) for task in (0, 1)]
        return [len(h) for h in held] == [2, 2] and not held[0] & held[1]

    wait_for(split, 30, "the two tasks to share the four partitions")
    for partition in range(4):
        produce(streamlog_bootstrap, topic, numbers(partition * 10, partition * 10 + 5), partition=partition)
    found = wait_rows(db, 20)
    expected = sorted(p * 10 + i for p in range(4) for i in range(5))
    assert sorted(json.loads(r[3])["n"] for r in found) == expected
    assert [t.state for t in worker.status("pair").tasks] == [State.RUNNING, State.RUNNING]
    with sqlite3.connect(db) as conn:
        tasks = {row[0] for row in conn.execute("SELECT DISTINCT task FROM records")}
    assert tasks == {0, 1}


def test_dead_letter_queue_with_context_headers(
        make_worker: Callable[..., Worker], streamlog_bootstrap: str,
        streamlog_topic_factory: Callable[..., str], tmp_path: Path) -> None:
    topic = streamlog_topic_factory()
    dlq = f"{topic}-dlq"
    db = tmp_path / "dlq.db"
    produce(streamlog_bootstrap, topic, [b'{"n": 0}', b"not json", b'{"n": 2}'])
    worker = make_worker()
    worker.add_connector(sink_config("dl", db, topics=topic, **{
        "errors.tolerance": "all", "errors.deadletterqueue.topic.name": dlq,
        "errors.deadletterqueue.context.headers.enable": "true"}))
    assert [r[2] for r in wait_rows(db, 2)] == [0, 2]
    dead = wait_for(lambda: read_topic(streamlog_bootstrap, dlq), 20, "the dead letter")
    assert len(dead) == 1 and dead[0].value == b"not json" and dead[0].key == b"1"
    headers = dict(dead[0].headers)
    assert headers["__connect.errors.topic"] == topic.encode()
    assert headers["__connect.errors.partition"] == b"0"
    assert headers["__connect.errors.offset"] == b"1"
    assert headers["__connect.errors.connector.name"] == b"dl"
    assert headers["__connect.errors.task.id"] == b"0"
    assert headers["__connect.errors.stage"] == b"VALUE_CONVERTER"
    assert headers["__connect.errors.class.name"] == b"org.apache.kafka.connect.json.JsonConverter"
    assert headers["__connect.errors.exception.message"]
    assert b"Traceback" in (headers["__connect.errors.exception.stacktrace"] or b"")


def test_conversion_and_put_failures_fail_the_task(
        make_worker: Callable[..., Worker], streamlog_bootstrap: str,
        streamlog_topic_factory: Callable[..., str], tmp_path: Path) -> None:
    bad_topic, refused_topic = streamlog_topic_factory(), streamlog_topic_factory()
    produce(streamlog_bootstrap, bad_topic, [b"not json"])
    produce(streamlog_bootstrap, refused_topic, numbers(0, 3))
    worker = make_worker()
    worker.add_connector(sink_config("bad", tmp_path / "a.db", topics=bad_topic))
    worker.add_connector(sink_config("refused", tmp_path / "b.db", topics=refused_topic,
                                     **{"fail.on.value": "1"}))
    for name, text in (("bad", "VALUE_CONVERTER"), ("refused", "toy sink refuses")):
        wait_for(lambda name=name: worker.status(name).tasks[0].state is State.FAILED, 20, f"{name} to fail")
        trace = worker.status(name).tasks[0].trace
        assert trace is not None and text in trace
    assert rows(tmp_path / "b.db") == []  # the refused batch was not applied in part


def test_a_paused_sink_applies_nothing_until_resumed(
        make_worker: Callable[..., Worker], streamlog_bootstrap: str,
        streamlog_topic_factory: Callable[..., str], tmp_path: Path) -> None:
    topic = streamlog_topic_factory()
    db = tmp_path / "paused.db"
    produce(streamlog_bootstrap, topic, numbers(0, 3))
    worker = make_worker()
    worker.add_connector(sink_config("held", db, topics=topic))
    wait_rows(db, 3)
    worker.pause("held")
    assert [t.state for t in worker.status("held").tasks] == [State.PAUSED]
    time.sleep(0.6)  # a consume in progress at the pause returns
    produce(streamlog_bootstrap, topic, numbers(3, 8))
    time.sleep(1.0)
    assert len(rows(db)) == 3
    worker.resume("held")
    assert [r[2] for r in wait_rows(db, 8)] == list(range(8))
