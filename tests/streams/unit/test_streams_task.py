"""The Task contract the runtime drives: raw records in, collector out, stream time, errors, punctuation."""

from __future__ import annotations

from typing import Any

import pytest

from streamlog.streams import (
    App,
    DeserializationError,
    InvalidTimestampError,
    Processor,
    ProcessorContext,
    PunctuationType,
    Record,
    StreamsError,
    TaskId,
    serdes,
)
from streamlog.streams.record import Headers, RawRecord
from streamlog.streams.state import InMemoryKeyValueStore
from streamlog.streams.task import Task


class Collector:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None, int, Headers, int | None]] = []

    def send(self, topic: str, key: bytes | None, value: bytes | None, timestamp: int, headers: Headers,
             partition: int | None) -> None:
        self.sent.append((topic, key, value, timestamp, headers, partition))


def _counting_app() -> App:
    app = App("task", default_key_serde=serdes.STRING, default_value_serde=serdes.STRING)
    app.stream("in").group_by_key().count(name="c").to_stream().to("out", value_serde=serdes.INT64)
    return app


def _task(app: App, partition: int = 3) -> tuple[Task, Collector, InMemoryKeyValueStore]:
    collector = Collector()
    store = InMemoryKeyValueStore("c")
    task = Task(app.topology(), TaskId(0, partition), {"c": store}, {}, collector, app.config)
    return task, collector, store


def test_process_writes_outputs_and_changelog_with_the_task_partition() -> None:
    task, collector, store = _task(_counting_app())
    task.initialize(0)
    task.process(RawRecord("in", 3, 17, b"k", b"v", 1234, (("h", b"x"),)), wall_clock_ms=99)
    one = (1).to_bytes(8, "big")
    assert collector.sent == [
        ("task-c-changelog", b"k", one, 1234, (), 3),
        ("out", b"k", one, 1234, (("h", b"x"),), None),
    ]
    assert store.get(b"k") == one
    assert task.stream_time == 1234


def test_stream_time_is_the_largest_timestamp_seen() -> None:
    task, _, _ = _task(_counting_app())
    assert task.stream_time == -1
    for ts in (5, 3, 9, 1):
        task.process(RawRecord("in", 3, 0, b"k", b"v", ts), 0)
    assert task.stream_time == 9


def test_bad_bytes_raise_deserialization_error_with_the_raw_record() -> None:
    app = App("task", default_key_serde=serdes.INT32)
    app.stream("in").to("out")
    task = Task(app.topology(), TaskId(0, 0), {}, {}, Collector(), app.config)
    raw = RawRecord("in", 0, 5, b"\x01", b"1", 0)
    with pytest.raises(DeserializationError) as failure:
        task.process(raw, 0)
    assert failure.value.raw is raw
    assert "INT32 serde expects 4 bytes" in str(failure.value.cause)
    assert task.stream_time == -1  # a record that was not processed does not move stream time


def test_negative_timestamps_are_refused() -> None:
    task, _, _ = _task(_counting_app())
    with pytest.raises(InvalidTimestampError):
        task.process(RawRecord("in", 3, 0, b"k", b"v", -1), 0)


def test_records_for_other_topics_are_refused() -> None:
    task, _, _ = _task(_counting_app())
    with pytest.raises(StreamsError, match="does not read topic 'elsewhere'"):
        task.process(RawRecord("elsewhere", 3, 0, b"k", b"v", 0), 0)


def test_missing_stores_are_reported() -> None:
    app = _counting_app()
    with pytest.raises(StreamsError, match="no store 'c'"):
        Task(app.topology(), TaskId(0, 0), {}, {}, Collector(), app.config)


class Ticker(Processor):
    def __init__(self, log: list[tuple[str, int]]) -> None:
        self.log = log

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        context.schedule(10, PunctuationType.WALL_CLOCK_TIME, lambda now: self.log.append(("wall", now)))
        context.schedule(10, PunctuationType.STREAM_TIME, lambda now: self.log.append(("stream", now)))

    def process(self, record: Record) -> None:
        if record.value == "commit":
            self.context.commit()


def test_punctuation_and_commit_requests() -> None:
    log: list[tuple[str, int]] = []
    app = App("task", default_key_serde=serdes.STRING, default_value_serde=serdes.STRING)
    app.stream("in").process(lambda: Ticker(log))
    task = Task(app.topology(), TaskId(0, 0), {}, {}, Collector(), app.config)
    task.initialize(100)
    assert task.next_wall_clock_punctuation() == 110
    assert task.punctuate_wall_clock(105) == 0
    assert task.punctuate_wall_clock(110) == 1
    task.process(RawRecord("in", 0, 0, b"k", b"x", 7), 111)
    assert log == [("wall", 110), ("stream", 7)]
    assert not task.commit_requested
    task.process(RawRecord("in", 0, 1, b"k", b"commit", 8), 112)
    assert task.commit_requested


def test_close_closes_processors_but_not_stores() -> None:
    closed: list[Any] = []

    class Closing(Processor):
        def process(self, record: Record) -> None:
            return None

        def close(self) -> None:
            closed.append(True)

    app = App("task")
    app.add_state_store("s")
    app.stream("in").process(Closing, stores=["s"])
    store = InMemoryKeyValueStore("s")
    task = Task(app.topology(), TaskId(0, 0), {"s": store}, {}, Collector(), app.config)
    task.initialize(0)
    task.close()
    task.close()
    assert closed == [True]
    store.put(b"still", b"open")
    assert store.get(b"still") == b"open"
