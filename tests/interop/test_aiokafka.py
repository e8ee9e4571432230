"""aiokafka against the broker: admin, every codec, offsets_for_times, beginning/end offsets.

Theory of operation: each test drives aiokafka inside its own ``asyncio.run`` (no pytest-asyncio
needed); topics are created with AIOKafkaAdminClient, records written with AIOKafkaProducer (acks=all)
and read back with an assign()-based AIOKafkaConsumer (group_id=None: no coordinator, no commits).
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import pytest
from tests.support.interop import CODECS, TopicFactory
from tests.support.kafka_clients import AIOKAFKA, run_roundtrip
from tests.support.offsets import TimeQuery, write_timestamped

pytestmark = pytest.mark.interop

aiokafka: Any = importlib.import_module("aiokafka")


def test_admin_creates_topic(bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory.name()
    AIOKAFKA.create_topic(bootstrap, topic, 4)

    async def describe() -> list[dict[str, Any]]:
        admin = importlib.import_module("aiokafka.admin").AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            described: list[dict[str, Any]] = await admin.describe_topics([topic])
            return described
        finally:
            await admin.close()

    [entry] = asyncio.run(describe())
    assert entry["topic"] == topic and entry["error_code"] == 0
    assert sorted(p["partition"] for p in entry["partitions"]) == [0, 1, 2, 3]
    assert all(p["error_code"] == 0 and p["leader"] >= 0 for p in entry["partitions"])


@pytest.mark.parametrize("codec", CODECS)
def test_roundtrip(bootstrap: str, topic_factory: TopicFactory, codec: str) -> None:
    run_roundtrip(AIOKAFKA, bootstrap, topic_factory.name(codec), codec)


def test_offsets_for_times(bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory.create(2)
    queries = write_timestamped(bootstrap, topic)

    async def lookup(q: TimeQuery) -> tuple[int, int] | None:
        consumer = aiokafka.AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
        await consumer.start()
        try:
            tp = aiokafka.TopicPartition(topic, q.partition)
            answer = (await consumer.offsets_for_times({tp: q.timestamp}))[tp]
            return None if answer is None else (answer.offset, answer.timestamp)
        finally:
            await consumer.stop()

    for q in queries:
        want = None if q.offset is None else (q.offset, q.record_ts)
        assert asyncio.run(lookup(q)) == want, f"p{q.partition} ts={q.timestamp}"


def test_beginning_and_end_offsets(bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory.create(2)
    write_timestamped(bootstrap, topic)

    async def offsets() -> tuple[dict[Any, int], dict[Any, int]]:
        consumer = aiokafka.AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
        await consumer.start()
        try:
            tps = [aiokafka.TopicPartition(topic, p) for p in (0, 1)]
            return await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
        finally:
            await consumer.stop()

    beginning, end = asyncio.run(offsets())
    assert {tp.partition: off for tp, off in beginning.items()} == {0: 0, 1: 0}
    assert {tp.partition: off for tp, off in end.items()} == {0: 15, 1: 5}
