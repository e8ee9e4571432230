"""Two instances of one application: tasks are shared out, state moves through the changelogs.

A second instance joins (cooperative rebalance: the first keeps the tasks it is not giving away), then
the first leaves; counts stay right throughout, since a task's new owner restores its store from the
changelog.  Under exactly-once, the output of every key is the sequence 1, 2, 3, ... with no gap or
repeat: the revoking instance committed its transaction before giving the partitions away.  A topology
with co-partitioned inputs (a merge of two topics into one count) runs under the range assignor, so
each task gets partition p of both topics.
"""

from __future__ import annotations

import pytest
from tests.streams.runtime.conftest import AppFactory, TopicFactory
from tests.support.streams_runtime import (
    int64,
    lines,
    produce,
    read_topic,
    running,
    wait_for,
    wait_for_outputs,
)

from streamlog.streams import serdes
from streamlog.streams.app import App
from streamlog.streams.runtime.consumer_loop import assignment_strategy


def count_app(app_factory: AppFactory, source: str, sink: str, instance: str, guarantee: str) -> App:
    app = app_factory(instance=instance, processing_guarantee=guarantee)
    (app.stream(source, key_serde=serdes.STRING, value_serde=serdes.STRING)
        .group_by(lambda key, value: value, key_serde=serdes.STRING)
        .count(name="counts")
        .to_stream()
        .to(sink, value_serde=serdes.INT64))
    return app


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_second_instance_joins_then_first_leaves(app_factory: AppFactory, streamlog_bootstrap: str,
                                                 streamlog_topic_factory: TopicFactory,
                                                 guarantee: str) -> None:
    source = streamlog_topic_factory(partitions=4)
    sink = streamlog_topic_factory(partitions=2)
    words = [f"w{i}" for i in range(12)]

    def batch(n: int) -> None:
        produce(streamlog_bootstrap, source, lines(f"line-{n}-", words))

    batch(0)
    first = count_app(app_factory, source, sink, "a", guarantee)
    with running(first) as a:
        wait_for_outputs(streamlog_bootstrap, sink, {w.encode(): 1 for w in words})
        second = count_app(app_factory, source, sink, "b", guarantee)
        with running(second, wait=False) as b:
            wait_for(lambda: b.running_tasks() and a.running_tasks() and
                     len(a.active_tasks()) + len(b.active_tasks()) == 8, 60, "tasks shared by both")
            assert not set(a.active_tasks()) & set(b.active_tasks())
            batch(1)
            wait_for_outputs(streamlog_bootstrap, sink, {w.encode(): 2 for w in words})
            a.stop()
            wait_for(lambda: len(b.running_tasks()) == 8, 60, "the second instance to own every task")
            batch(2)
            wait_for_outputs(streamlog_bootstrap, sink, {w.encode(): 3 for w in words})
    if guarantee == "exactly_once":
        sequences: dict[bytes | None, list[int | None]] = {}
        for record in read_topic(streamlog_bootstrap, sink):
            sequences.setdefault(record.key, []).append(int64(record.value))
        assert sequences == {w.encode(): [1, 2, 3] for w in words}


def test_copartitioned_inputs_use_the_range_assignor(app_factory: AppFactory, streamlog_bootstrap: str,
                                                     streamlog_topic_factory: TopicFactory) -> None:
    left = streamlog_topic_factory(partitions=3)
    right = streamlog_topic_factory(partitions=3)
    sink = streamlog_topic_factory(partitions=1)

    def build(instance: str) -> App:
        app = app_factory(instance=instance)
        stream = app.stream([left, right], key_serde=serdes.STRING, value_serde=serdes.STRING)
        stream.group_by_key().count(name="both").to_stream().to(sink, value_serde=serdes.INT64)
        return app

    first, second = build("a"), build("b")
    assert assignment_strategy(first.topology()) == "range"
    keys = [f"k{i}".encode() for i in range(9)]
    produce(streamlog_bootstrap, left, [(k, b"l") for k in keys])
    produce(streamlog_bootstrap, right, [(k, b"r") for k in keys])
    with running(first) as a, running(second, wait=False) as b:
        wait_for(lambda: b.running_tasks() and len(a.running_tasks()) + len(b.running_tasks()) == 3, 60,
                 "tasks shared")
        wait_for_outputs(streamlog_bootstrap, sink, dict.fromkeys(keys, 2))
        produce(streamlog_bootstrap, right, [(k, b"r") for k in keys])
        wait_for_outputs(streamlog_bootstrap, sink, dict.fromkeys(keys, 3))
