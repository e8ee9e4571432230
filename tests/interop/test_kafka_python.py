"""kafka-python against the broker: admin, every codec, offsets_for_times, beginning/end offsets.

Theory of operation: kafka-python negotiates its own protocol versions (it probes the broker with
ApiVersions); topics are created with its KafkaAdminClient, records written with KafkaProducer (acks=all)
and read back with an assign()-based KafkaConsumer (group_id=None: no coordinator, no commits).
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from tests.support.interop import CODECS, TopicFactory
from tests.support.kafka_clients import KAFKA_PYTHON, run_roundtrip
from tests.support.offsets import write_timestamped

pytestmark = pytest.mark.interop

kafka: Any = importlib.import_module("kafka")


def _consumer(bootstrap: str) -> Any:
    return kafka.KafkaConsumer(bootstrap_servers=[bootstrap], group_id=None, enable_auto_commit=False,
                               request_timeout_ms=20_000)


def test_admin_creates_topic(bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory.name()
    KAFKA_PYTHON.create_topic(bootstrap, topic, 4)
    consumer = _consumer(bootstrap)
    try:
        assert consumer.partitions_for_topic(topic) == {0, 1, 2, 3}
    finally:
        consumer.close()


@pytest.mark.parametrize("codec", CODECS)
def test_roundtrip(bootstrap: str, topic_factory: TopicFactory, codec: str) -> None:
    run_roundtrip(KAFKA_PYTHON, bootstrap, topic_factory.name(codec), codec)


def test_offsets_for_times(bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory.create(2)
    queries = write_timestamped(bootstrap, topic)
    consumer = _consumer(bootstrap)
    try:
        for q in queries:
            tp = kafka.TopicPartition(topic, q.partition)
            answer = consumer.offsets_for_times({tp: q.timestamp})[tp]
            where = f"p{q.partition} ts={q.timestamp}"
            if q.offset is None:
                assert answer is None, f"{where}: got {answer}, want no offset"
            else:
                assert answer is not None, f"{where}: no offset, want {q.offset}"
                assert (answer.offset, answer.timestamp) == (q.offset, q.record_ts), where
    finally:
        consumer.close()


def test_beginning_and_end_offsets(bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory.create(2)
    write_timestamped(bootstrap, topic)
    consumer = _consumer(bootstrap)
    try:
        tps = [kafka.TopicPartition(topic, p) for p in (0, 1)]
        assert consumer.beginning_offsets(tps) == dict.fromkeys(tps, 0)
        assert consumer.end_offsets(tps) == {tps[0]: 15, tps[1]: 5}
    finally:
        consumer.close()
