"""Stateful topologies against a real broker: repartition + count, table aggregation, Processor API.

Each runs the same topology code a driver test runs, through Kafka: internal topics are created with
Kafka Streams' names and partition counts, aggregations land in changelog-backed stores, outputs
carry the final values.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.streams.runtime.conftest import AppFactory, TopicFactory
from tests.support.streams_runtime import (
    int64,
    json_value,
    partitions_of,
    produce,
    read_topic,
    running,
    wait_for,
    wait_for_outputs,
)
from tests.support.streams_runtime import (
    lines as lines_of,
)

from streamlog.streams import serdes
from streamlog.streams.processor import Processor, ProcessorContext, PunctuationType
from streamlog.streams.record import Record

WORDS = ["apple banana", "banana cherry", "apple apple", "durian", "cherry banana apple"]


def expected_counts(lines: list[str]) -> dict[bytes | None, int]:
    counts: dict[bytes | None, int] = {}
    for line in lines:
        for word in line.split():
            key = word.encode()
            counts[key] = counts.get(key, 0) + 1
    return counts


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
@pytest.mark.parametrize("store", ["persistent", "memory"])
def test_word_count_through_a_repartition_topic(app_factory: AppFactory, streamlog_bootstrap: str,
                                                streamlog_topic_factory: TopicFactory, guarantee: str,
                                                store: str) -> None:
    source = streamlog_topic_factory(partitions=3)
    sink = streamlog_topic_factory(partitions=2)
    app = app_factory(processing_guarantee=guarantee, store=store)
    (app.stream(source, key_serde=serdes.STRING, value_serde=serdes.STRING)
        .flat_map_values(str.split)
        .group_by(lambda key, word: word, key_serde=serdes.STRING)
        .count(name="word-counts")
        .to_stream()
        .to(sink, value_serde=serdes.INT64))
    lines = WORDS * 7
    produce(streamlog_bootstrap, source, lines_of("line-", lines))
    with running(app):
        wait_for_outputs(streamlog_bootstrap, sink, expected_counts(lines))
    app_id = app.application_id
    # internal topics: Kafka Streams' names; the repartition topic as wide as the source, the changelog
    # one partition per task of the counting sub-topology
    assert partitions_of(streamlog_bootstrap, f"{app_id}-word-counts-repartition") == 3
    assert partitions_of(streamlog_bootstrap, f"{app_id}-word-counts-changelog") == 3
    changelog = read_topic(streamlog_bootstrap, f"{app_id}-word-counts-changelog")
    final = {r.key: int64(r.value) for r in changelog}
    assert final == expected_counts(lines)


def test_table_aggregate_subtracts_old_values(app_factory: AppFactory, streamlog_bootstrap: str,
                                              streamlog_topic_factory: TopicFactory) -> None:
    users = streamlog_topic_factory(partitions=2)
    per_region = streamlog_topic_factory(partitions=2)
    app = app_factory()
    (app.table(users, key_serde=serdes.STRING, value_serde=serdes.JSON)
        .group_by(lambda user, profile: (profile["region"], profile["score"]), key_serde=serdes.STRING,
                  value_serde=serdes.INT64)
        .aggregate(lambda: 0, lambda region, score, total: total + score,
                   lambda region, score, total: total - score, name="region-scores")
        .to_stream()
        .to(per_region, value_serde=serdes.INT64))
    first = [(b"ann", b'{"region": "eu", "score": 5}'), (b"bob", b'{"region": "us", "score": 7}'),
             (b"cid", b'{"region": "eu", "score": 1}')]
    produce(streamlog_bootstrap, users, first)
    with running(app):
        wait_for_outputs(streamlog_bootstrap, per_region, {b"eu": 6, b"us": 7})
        # ann moves to the US with a new score; cid is deleted (tombstone)
        produce(streamlog_bootstrap, users, [(b"ann", b'{"region": "us", "score": 10}'), (b"cid", None)])
        wait_for_outputs(streamlog_bootstrap, per_region, {b"eu": 0, b"us": 17})


class DedupWithExpiry(Processor):
    """Forwards the first record of each key; a wall-clock punctuator emits how many it has seen."""

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self.seen = context.get_state_store("seen-ids")
        context.schedule(200, PunctuationType.WALL_CLOCK_TIME, self.report)

    def process(self, record: Record) -> None:
        if self.seen.get(record.key) is None:
            self.seen.put(record.key, record.timestamp)
            self.context.forward(record)

    def report(self, now: int) -> None:
        count = sum(1 for _ in self.seen.all())
        self.context.forward(Record(f"seen-{self.context.task_id}", count, now))


def test_process_with_a_store_and_a_wall_clock_punctuator(app_factory: AppFactory, streamlog_bootstrap: str,
                                                           streamlog_topic_factory: TopicFactory) -> None:
    source = streamlog_topic_factory(partitions=1)
    sink = streamlog_topic_factory(partitions=1)
    app = app_factory()
    app.add_state_store("seen-ids", key_serde=serdes.STRING, value_serde=serdes.INT64)
    (app.stream(source, key_serde=serdes.STRING, value_serde=serdes.STRING)
        .process(DedupWithExpiry, stores=["seen-ids"])
        .to(sink, key_serde=serdes.STRING, value_serde=serdes.JSON))
    events = [(f"event-{i % 5}".encode(), f"payload-{i}".encode()) for i in range(20)]
    produce(streamlog_bootstrap, source, events)
    with running(app):

        def reported() -> list[Any] | None:
            records = read_topic(streamlog_bootstrap, sink)
            reports = [json_value(r.value) for r in records if (r.key or b"").startswith(b"seen-")]
            firsts = [r for r in records if (r.key or b"").startswith(b"event-")]
            return [firsts, reports] if 5 in reports and len(firsts) >= 5 else None

        firsts, reports = wait_for(reported, 60, "the punctuator to report 5 ids")
    assert sorted(r.key for r in firsts) == [f"event-{i}".encode() for i in range(5)]
    in_order = sorted(firsts, key=lambda r: r.offset)
    assert [json_value(r.value) for r in in_order] == [f"payload-{i}" for i in range(5)]
    assert max(reports) == 5


class Enrich(Processor):
    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self.names = context.get_state_store("names")

    def process(self, record: Record) -> None:
        self.context.forward(record.with_value(f"{self.names.get(record.key)}:{record.value}"))


def test_global_table_is_read_before_processing_and_kept_up_to_date(
        app_factory: AppFactory, streamlog_bootstrap: str, streamlog_topic_factory: TopicFactory) -> None:
    names = streamlog_topic_factory(partitions=3)
    events = streamlog_topic_factory(partitions=2)
    sink = streamlog_topic_factory(partitions=1)
    app = app_factory()
    app.global_table(names, key_serde=serdes.STRING, value_serde=serdes.STRING, name="names")
    (app.stream(events, key_serde=serdes.STRING, value_serde=serdes.STRING)
        .process(Enrich)
        .to(sink, key_serde=serdes.STRING, value_serde=serdes.STRING))
    produce(streamlog_bootstrap, names, [(f"u{i}".encode(), f"name{i}".encode()) for i in range(6)])
    produce(streamlog_bootstrap, events, [(f"u{i}".encode(), b"first") for i in range(6)])
    with running(app):
        wait_for_outputs(streamlog_bootstrap, sink, {f"u{i}".encode(): f"name{i}:first" for i in range(6)},
                         decode=lambda v: (v or b"").decode())
        produce(streamlog_bootstrap, names, [(b"u0", b"renamed")])
        wait_for(lambda: _value_of(streamlog_bootstrap, names, b"u0") == b"renamed", 30, "the rename")
        wait_for(lambda: _enriched_after_rename(streamlog_bootstrap, events, sink), 30, "the renamed output")


def _value_of(bootstrap: str, topic: str, key: bytes) -> bytes | None:
    found = [r.value for r in read_topic(bootstrap, topic) if r.key == key]
    return found[-1] if found else None


def _enriched_after_rename(bootstrap: str, events: str, sink: str) -> bool:
    produce(bootstrap, events, [(b"u0", b"again")])
    return any(r.value == b"renamed:again" for r in read_topic(bootstrap, sink))
