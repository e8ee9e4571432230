"""Tasks fed by several partitions take records in timestamp order (Kafka Streams' PartitionGroup).

A unit test of `PartitionGroup`'s rule (smallest head timestamp; wait while an empty partition still
has records on the broker; a bounded wait), and the case it exists for: a windowed join replayed
from two topics filled before the app starts.  Processed topic by topic, the left side's records
would expire from the join window before the right side's arrived and almost nothing would join;
in timestamp order every pair joins, as it does in Kafka Streams.
"""

from __future__ import annotations

import json

from confluent_kafka import Producer
from tests.streams.runtime.conftest import AppFactory, TopicFactory
from tests.support.streams_runtime import read_topic, running, wait_for

from streamlog.streams import JoinWindows, serdes
from streamlog.streams.runtime.partition_group import MAX_WAIT_MS, PartitionGroup

A, B = ("a", 0), ("b", 0)


def _group() -> PartitionGroup[tuple[str, int]]:
    return PartitionGroup([A, B], lambda record: record[1])


def test_the_smallest_head_timestamp_goes_first_while_every_partition_has_records() -> None:
    group = _group()
    for record in [("a1", 5), ("a2", 30)]:
        group.add(A, record)
    for record in [("b1", 10), ("b2", 20)]:
        group.add(B, record)
    taken = [group.next_ready(lambda p: False, 0) for _ in range(3)]
    assert taken == [("a1", 5), ("b1", 10), ("b2", 20)]
    # b is empty and not caught up: a2 waits (it may be later than what b still has to fetch)
    assert group.next_ready(lambda p: False, 0) is None
    assert group.next_ready(lambda p: p == B, 0) == ("a2", 30)  # b caught up: nothing to wait for
    assert group.next_ready(lambda p: True, 0) is None and group.buffered() == 0


def test_a_partition_whose_lag_stays_unknown_holds_the_group_back_for_a_bounded_time() -> None:
    group = _group()
    group.add(A, ("a1", 1))
    assert group.next_ready(lambda p: False, 1_000) is None
    assert group.next_ready(lambda p: False, 1_000 + MAX_WAIT_MS - 1) is None
    assert group.next_ready(lambda p: False, 1_000 + MAX_WAIT_MS) == ("a1", 1)


def test_a_windowed_join_replayed_from_prefilled_topics_finds_every_pair(
        app_factory: AppFactory, streamlog_topic_factory: TopicFactory, streamlog_bootstrap: str) -> None:
    left, right = streamlog_topic_factory(partitions=2), streamlog_topic_factory(partitions=2)
    out = streamlog_topic_factory(partitions=2)
    base, count = 1_700_000_000_000, 1_500
    producer = Producer({"bootstrap.servers": streamlog_bootstrap, "partitioner": "murmur2_random",
                         "linger.ms": 5})
    for i in range(count):  # all of the left topic first, then all of the right one
        producer.produce(left, key=f"k{i % 40}", value=json.dumps(i), timestamp=base + i * 10)
    for i in range(count):
        producer.produce(right, key=f"k{i % 40}", value=json.dumps(-i), timestamp=base + i * 10 + 1)
    assert producer.flush(30) == 0
    app = app_factory(default_key_serde=serdes.STRING, default_value_serde=serdes.JSON)
    # same-key records are 400 ms apart: each left record has exactly one partner within 100 ms
    (app.stream(left).join(app.stream(right), lambda a, b: [a, b], JoinWindows(100, 100, grace_ms=0))
        .to(out))
    with running(app):
        wait_for(lambda: len(read_topic(streamlog_bootstrap, out)) >= count or None, 60,
                 f"{count} joined pairs")
    pairs = sorted(json.loads(r.value or b"null") for r in read_topic(streamlog_bootstrap, out))
    assert pairs == [[i, -i] for i in range(count)]
