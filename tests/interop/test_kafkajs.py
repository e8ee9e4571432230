"""kafkajs 2.2.4 (Node.js) against the broker: admin, every codec, offsets by timestamp, watermarks.

Theory of operation: each test runs ``node tests/interop/js/driver.js`` (see its header) through
:mod:`tests.support.external_clients`.  Topics are created with kafkajs's admin client; records are
written by its producer (acks=-1, snappy/lz4/zstd through the codec packages pinned in js/package.json)
and read back with explicit-offset Fetch requests on kafkajs's own broker connection, because kafkajs has
no assign()-style consumer.
"""

from __future__ import annotations

import pytest
from tests.support.external_clients import KAFKAJS, run_node
from tests.support.interop import CODECS, TopicFactory
from tests.support.kafka_clients import run_roundtrip
from tests.support.offsets import write_timestamped

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("codec", CODECS)
def test_roundtrip(bootstrap: str, topic_factory: TopicFactory, codec: str) -> None:
    run_roundtrip(KAFKAJS, bootstrap, topic_factory.name(codec), codec)


def test_offsets_by_timestamp_and_watermarks(bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory.create(2)
    queries = write_timestamped(bootstrap, topic)
    answer = run_node("offsets", {"bootstrap": bootstrap, "topic": topic})
    marks = {int(o["partition"]): (int(o["low"]), int(o["high"])) for o in answer["offsets"]}
    assert marks == {0: (0, 15), 1: (0, 5)}
    for q in queries:
        # kafkajs answers "no offset at or after this time" with the high watermark.
        want = marks[q.partition][1] if q.offset is None else q.offset
        got = run_node("offsets-by-time", {"bootstrap": bootstrap, "topic": topic, "timestamp": q.timestamp})
        by_partition = {int(o["partition"]): int(o["offset"]) for o in got["offsets"]}
        assert by_partition[q.partition] == want, f"p{q.partition} ts={q.timestamp}"
