"""Helpers for running `streamlog.streams` apps against a real broker in tests.

Theory of operation: tests build an `App` with the DSL, run it with `running(app)` (a
`StreamsRunner` in a thread, stopped and checked for errors on exit), write inputs with `produce`
(confluent-kafka, murmur2 like Java clients, idempotent) and read outputs with `read_topic`, which
reads every partition from the start up to its end (the last stable offset under
``read_committed``), and `wait_for_outputs`, which re-reads until a predicate holds.  Output
records come back as `Out` (partition, offset, key, value, timestamp, headers), still bytes; the
`int64`/`json_value` helpers decode the usual serdes.

`FAST_CLIENTS` shortens the group timeouts so rebalances after a stop or a crash take seconds.
"""

from __future__ import annotations

import contextlib
import json
import struct
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from streamlog.streams import serdes
from streamlog.streams.app import App
from streamlog.streams.runtime import StreamsRunner

T = TypeVar("T")

FAST_CLIENTS: dict[str, str] = {
    "consumer.session.timeout.ms": "6000",
    "consumer.heartbeat.interval.ms": "500",
    "consumer.topic.metadata.refresh.interval.ms": "2000",
}


@dataclass(frozen=True, slots=True)
class Out:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int
    headers: tuple[tuple[str, bytes | None], ...]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def int64(data: bytes | None) -> int | None:
    return None if data is None else struct.unpack(">q", data)[0]


def lines(prefix: str, values: Iterable[str]) -> list[tuple[bytes, bytes]]:
    """Records ``(prefix + index, value)``, keys and values UTF-8."""
    return [(f"{prefix}{i}".encode(), value.encode()) for i, value in enumerate(values)]


def json_value(data: bytes | None) -> Any:
    return None if data is None else json.loads(data)


def produce(bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes | None]], *,
            partition: int | None = None, timestamp: int | None = None,
            headers: Sequence[tuple[str, bytes]] | None = None) -> int:
    """Write `records` (idempotent, acks=all, murmur2 placement); the number acknowledged."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                         "partitioner": "murmur2_random", "linger.ms": 2})
    failures: list[KafkaError] = []
    count = 0

    def report(error: KafkaError | None, _message: object) -> None:
        if error is not None:
            failures.append(error)

    for key, value in records:
        kwargs: dict[str, Any] = {"key": key, "value": value, "on_delivery": report}
        if partition is not None:
            kwargs["partition"] = partition
        if timestamp is not None:
            kwargs["timestamp"] = timestamp
        if headers:
            kwargs["headers"] = list(headers)
        producer.produce(topic, **kwargs)
        count += 1
        producer.poll(0)
    left = producer.flush(30)
    assert left == 0 and not failures, f"produce to {topic}: {left} undelivered, errors {failures[:3]}"
    return count


def count_by_key(app: App, source: str, sink: str) -> App:
    """`app` with the runtime tests' common topology: STRING records of `source` counted per key in the
    store "counts" (changelog ``<app>-counts-changelog``), every update written to `sink` as INT64."""
    (app.stream(source, key_serde=serdes.STRING, value_serde=serdes.STRING)
        .group_by_key()
        .count(name="counts")
        .to_stream()
        .to(sink, value_serde=serdes.INT64))
    return app


def partitions_of(bootstrap: str, topic: str) -> int:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    metadata = admin.list_topics(topic=topic, timeout=10)
    found = metadata.topics.get(topic)
    assert found is not None and found.error is None, f"topic {topic}: {found.error if found else 'missing'}"
    return len(found.partitions)


def read_topic(bootstrap: str, topic: str, *, read_committed: bool = True,
               timeout: float = 30.0) -> list[Out]:
    """Every record of `topic`, partition by partition in offset order, up to the end of each."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("reader"),
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "isolation.level": "read_committed" if read_committed else "read_uncommitted"})
    try:
        count = partitions_of(bootstrap, topic)
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
                for p in range(count)}
        out: list[Out] = []
        pending = {p for p, end in ends.items() if end > 0}
        if pending:
            consumer.assign([TopicPartition(topic, p, 0) for p in sorted(pending)])
        deadline = time.monotonic() + timeout
        while pending:
            assert time.monotonic() < deadline, f"reading {topic}: {sorted(pending)} not read to the end"
            message = consumer.poll(0.2)
            if message is None:
                continue
            error = message.error()
            partition = message.partition() or 0
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    if (message.offset() or 0) >= ends[partition]:
                        pending.discard(partition)
                    continue
                raise AssertionError(f"reading {topic}: {error.str()}")
            offset = message.offset() or 0
            headers = cast(list[tuple[str, bytes | None]], message.headers() or [])
            out.append(Out(partition, offset, message.key(), message.value(), message.timestamp()[1],
                           tuple(headers)))
            if offset + 1 >= ends[partition]:
                pending.discard(partition)
        return sorted(out, key=lambda o: (o.partition, o.offset))
    finally:
        consumer.close()


def wait_for(condition: Callable[[], T | None], timeout: float, what: str, every: float = 0.3) -> T:
    """Call `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def wait_for_count(bootstrap: str, topic: str, count: int, *, timeout: float = 60.0,
                   read_committed: bool = True) -> list[Out]:
    """Re-read `topic` until it holds at least `count` records; the records."""

    def check() -> list[Out] | None:
        records = read_topic(bootstrap, topic, read_committed=read_committed)
        return records if len(records) >= count else None

    return wait_for(check, timeout, f"{count} records in {topic}", every=0.5)


def latest_by_key(records: Iterable[Out],
                  decode: Callable[[bytes | None], Any] = int64) -> dict[bytes | None, Any]:
    out: dict[bytes | None, Any] = {}
    for record in records:
        out[record.key] = decode(record.value)
    return out


def wait_for_outputs(bootstrap: str, topic: str, expected: Mapping[bytes | None, Any], *,
                     decode: Callable[[bytes | None], Any] = int64, timeout: float = 60.0,
                     read_committed: bool = True) -> list[Out]:
    """Re-read `topic` until the latest value of every key is the expected one; the records read."""

    def check() -> list[Out] | None:
        records = read_topic(bootstrap, topic, read_committed=read_committed)
        return records if latest_by_key(records, decode) == dict(expected) else None

    try:
        return wait_for(check, timeout, f"{topic} to reach {dict(expected)}", every=0.5)
    except AssertionError:
        got = latest_by_key(read_topic(bootstrap, topic, read_committed=read_committed), decode)
        raise AssertionError(f"{topic}: latest values {got}, expected {dict(expected)}") from None


@contextlib.contextmanager
def running(app: App, *, wait: bool = True, timeout: float = 60.0, **kwargs: Any) -> Iterator[StreamsRunner]:
    """Run `app` in a thread; stop it on exit and re-raise what it failed with."""
    kwargs.setdefault("connect_timeout_s", 15.0)
    kwargs.setdefault("progress_interval_s", 0)
    runner = StreamsRunner(app, **kwargs).start()
    try:
        if wait:
            assert runner.wait_until_running(timeout), (
                f"app not running after {timeout}s: {runner.state} {runner.error!r}")
        yield runner
    finally:
        runner.stop()
