"""Stateless topologies against a real broker: what the test driver checks, through Kafka.

Records keep their timestamps and headers; keys are placed with Kafka's murmur2 (the partition a Java
producer would choose); split branches and topic choosers route records; an app with no state runs
under both guarantees.
"""

from __future__ import annotations

import pytest
from tests.interop.test_partitioning import kafka_partition
from tests.streams.runtime.conftest import AppFactory, TopicFactory
from tests.support.streams_runtime import produce, read_topic, running, wait_for, wait_for_count

from streamlog.streams import serdes


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_filter_map_values_flat_map_keep_timestamps_headers_and_murmur2_placement(
        app_factory: AppFactory, streamlog_bootstrap: str, streamlog_topic_factory: TopicFactory,
        guarantee: str) -> None:
    source = streamlog_topic_factory(partitions=3)
    sink = streamlog_topic_factory(partitions=4)
    app = app_factory(processing_guarantee=guarantee)
    orders = app.stream(source, key_serde=serdes.STRING, value_serde=serdes.JSON)
    (orders.filter(lambda key, order: order["status"] == "paid")
           .map_values(lambda order: {"amount": order["amount"] * 2})
           .flat_map(lambda key, order: [(f"{key}-{i}", order) for i in range(2)])
           .to(sink, key_serde=serdes.STRING, value_serde=serdes.JSON))
    records = [(f"k{i}".encode(), f'{{"status": "{"paid" if i % 2 else "open"}", "amount": {i}}}'.encode())
               for i in range(40)]
    produce(streamlog_bootstrap, source, records, timestamp=1_700_000_000_000, headers=[("trace", b"t1")])
    with running(app):
        out = wait_for_count(streamlog_bootstrap, sink, 40)
    assert len(out) == 40
    got = {(record.key or b"").decode(): record for record in out}
    assert set(got) == {f"k{i}-{j}" for i in range(1, 40, 2) for j in range(2)}
    for key, record in got.items():
        i = int(key[1:].split("-")[0])
        assert serdes.JSON.deserialize(sink, record.value) == {"amount": 2 * i}
        assert record.timestamp == 1_700_000_000_000
        assert record.headers == (("trace", b"t1"),)
        assert record.partition == kafka_partition(key.encode(), 4), f"{key} not where murmur2 puts it"


def test_split_branches_and_topic_chooser(app_factory: AppFactory, streamlog_bootstrap: str,
                                          streamlog_topic_factory: TopicFactory) -> None:
    source = streamlog_topic_factory(partitions=2)
    small, large, chosen_even, chosen_odd = (streamlog_topic_factory(partitions=1) for _ in range(4))
    app = app_factory()
    numbers = app.stream(source, key_serde=serdes.STRING, value_serde=serdes.INT64)
    branches = (numbers.split()
                .branch(lambda key, value: value < 10)
                .default_branch())
    first, rest = list(branches.values())
    first.to(small, value_serde=serdes.INT64)
    rest.to(large, value_serde=serdes.INT64)
    numbers.to(lambda key, value, ctx: chosen_even if value % 2 == 0 else chosen_odd,
               value_serde=serdes.INT64)
    produce(streamlog_bootstrap, source, [(f"n{i}".encode(), i.to_bytes(8, "big")) for i in range(20)])
    with running(app):
        wait_for(lambda: len(read_topic(streamlog_bootstrap, chosen_even)) + len(
            read_topic(streamlog_bootstrap, chosen_odd)) >= 20, 60, "all records routed")
        wait_for(lambda: len(read_topic(streamlog_bootstrap, small)) + len(
            read_topic(streamlog_bootstrap, large)) >= 20, 60, "all records split")

    def values(topic: str) -> list[int]:
        return sorted(int.from_bytes(r.value or b"", "big") for r in read_topic(streamlog_bootstrap, topic))

    assert values(small) == list(range(10))
    assert values(large) == list(range(10, 20))
    assert values(chosen_even) == list(range(0, 20, 2))
    assert values(chosen_odd) == list(range(1, 20, 2))
