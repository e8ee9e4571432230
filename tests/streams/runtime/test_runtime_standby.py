"""Standby replicas: a second instance keeps warm copies of the first one's stores.

With ``num_standby_replicas=1`` and two instances, each stateful task active on one instance is a
standby on the other (placement from the group's membership), kept up to date by tailing the
changelog.  When the first instance stops, the second takes its tasks over and restores nothing:
its standby stores already hold the whole changelog.
"""

from __future__ import annotations

import logging
import re

import pytest
from confluent_kafka import TopicPartition
from tests.streams.runtime.conftest import AppFactory, TopicFactory
from tests.support.streams_runtime import count_by_key, produce, running, wait_for, wait_for_outputs

from streamlog.streams.app import App
from streamlog.streams.record import TaskId
from streamlog.streams.runtime.standby import place_standbys

RESTORED = re.compile(r"task (\d+_\d+): restored store '([^']+)' from \S+: (\d+) records")


def test_placement_is_the_next_members_in_member_id_order() -> None:
    owners = {TaskId(0, 0): "m2", TaskId(0, 1): "m3", TaskId(0, 2): "m1"}
    assert place_standbys(owners, ["m3", "m1", "m2"], 1) == {
        TaskId(0, 0): ["m3"], TaskId(0, 1): ["m1"], TaskId(0, 2): ["m2"]}
    assert place_standbys(owners, ["m3", "m1", "m2"], 5) == {
        TaskId(0, 0): ["m3", "m1"], TaskId(0, 1): ["m1", "m2"], TaskId(0, 2): ["m2", "m3"]}
    assert place_standbys(owners, ["m1"], 1) == {TaskId(0, 2): []}


@pytest.mark.parametrize("store", ["persistent", "memory"])
def test_standby_takes_over_without_restoring(app_factory: AppFactory, streamlog_bootstrap: str,
                                              streamlog_topic_factory: TopicFactory,
                                              caplog: pytest.LogCaptureFixture, store: str) -> None:
    caplog.set_level(logging.DEBUG, logger="streamlog.streams")
    source = streamlog_topic_factory(partitions=2)
    sink = streamlog_topic_factory(partitions=2)

    def build(instance: str) -> App:
        return count_by_key(app_factory(instance=instance, num_standby_replicas=1, store=store), source, sink)

    keys = [f"k{i}".encode() for i in range(10)]
    produce(streamlog_bootstrap, source, [(k, b"v") for k in keys * 4])
    with running(build("a")) as a, running(build("b"), wait=False) as b:
        wait_for(lambda: len(a.running_tasks()) == 1 and len(b.running_tasks()) == 1, 60, "one task each")
        wait_for(lambda: a.standby_tasks() == b.running_tasks() and b.standby_tasks() == a.running_tasks(),
                 60, "each instance a standby of the other's task")
        wait_for_outputs(streamlog_bootstrap, sink, dict.fromkeys(keys, 4))
        loop = b._loop
        assert loop is not None
        changelog = f"{a.app.application_id}-counts-changelog"

        def standby_caught_up() -> bool:
            (task_id,) = b.standby_tasks()
            targets = loop.reader.owned_by(task_id)
            ends = [loop.reader.consumer.get_watermark_offsets(TopicPartition(changelog, t.partition),
                                                               timeout=5, cached=False)[1] for t in targets]
            return bool(targets) and all(t.position >= end for t, end in zip(targets, ends, strict=True))

        wait_for(standby_caught_up, 60, "the standby to reach the changelog's end")
        (moving,) = a.running_tasks()
        caplog.clear()
        a.stop()
        wait_for(lambda: len(b.running_tasks()) == 2, 60, "the second instance to own both tasks")
        produce(streamlog_bootstrap, source, [(k, b"v") for k in keys])
        wait_for_outputs(streamlog_bootstrap, sink, dict.fromkeys(keys, 5))
    messages = [r.getMessage() for r in caplog.records]
    assert f"standby task {moving} becomes active; it restores only what its stores miss" in messages
    restored = [int(m[3]) for m in map(RESTORED.search, messages) if m and m[1] == str(moving)]
    assert restored == [0], messages
