"""Which Kafka release the clients take Streamlog for, and the newest versions they send.

Theory of operation: kafka-python 3.x infers a broker release from ApiVersions (its
``infer_broker_version_from_api_versions``: the newest release whose probe, one API at one version,
the broker's ranges contain) and then sends each API at min(its max, ours): here ListOffsets v10,
Metadata v13, FindCoordinator v6, DescribeGroups v6 and DescribeCluster v2, each checked by what it
answers.  librdkafka (confluent-kafka) sends Metadata v13, seen in its own protocol debug log.
aiokafka 0.14 infers no release any more: it picks, per API, the newest of its request versions
that falls in the broker's range, so every one of its requests must find its newest version inside
ours.  kafka-python and aiokafka then produce and consume.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from typing import Any

import pytest
from tests.support.interop import Deadline, TopicFactory, unique_name
from tests.support.kafka_clients import AIOKAFKA, KAFKA_PYTHON, run_roundtrip

from streamlog.broker.handlers.api_versions import advertised_ranges
from streamlog.protocol.registry import SPECS

pytestmark = pytest.mark.interop

kafka: Any = importlib.import_module("kafka")
aiokafka: Any = importlib.import_module("aiokafka")


def expected_release() -> tuple[int, int]:
    """kafka-python's probe for 4.1 is Produce v13 (served once Produce reaches 4.1's range), for
    4.0 ListOffsets v10; we answer as Kafka 4.1 and must never be taken for 4.2 (ListOffsets v11)."""
    return (4, 1) if SPECS[0].max_version >= 13 else (4, 0)


def test_kafka_python_infers_kafka_4(bootstrap: str, topic_factory: TopicFactory) -> None:
    admin = kafka.KafkaAdminClient(bootstrap_servers=[bootstrap], request_timeout_ms=20_000)
    try:
        assert admin._client.check_version() == expected_release()
        assert admin.get_broker_version_data(0).broker_version == expected_release()
    finally:
        admin.close()
    run_roundtrip(KAFKA_PYTHON, bootstrap, topic_factory.name("probe"), "lz4")


def test_kafka_python_at_its_newest_versions(bootstrap: str, topic_factory: TopicFactory) -> None:
    requests = {name: getattr(importlib.import_module(module), name) for module, name in (
        ("kafka.protocol.consumer", "ListOffsetsRequest"), ("kafka.protocol.metadata", "MetadataRequest"),
        ("kafka.protocol.metadata", "FindCoordinatorRequest"),
        ("kafka.protocol.admin", "DescribeGroupsRequest"),
        ("kafka.protocol.admin", "DescribeClusterRequest"))}
    topic = topic_factory.create(1)
    producer = kafka.KafkaProducer(bootstrap_servers=[bootstrap], acks="all")
    for i, ts in enumerate((1_700_000_000_000, 1_700_000_009_000, 1_700_000_005_000)):
        producer.send(topic, b"v%d" % i, partition=0, timestamp_ms=ts)
    producer.flush(30)
    producer.close()
    admin = kafka.KafkaAdminClient(bootstrap_servers=[bootstrap], request_timeout_ms=20_000)
    try:
        chosen = admin.get_broker_version_data(0)
        assert {name: chosen.api_version(req) for name, req in requests.items()} == {
            "ListOffsetsRequest": 10, "MetadataRequest": 13, "FindCoordinatorRequest": 6,
            "DescribeGroupsRequest": 6, "DescribeClusterRequest": 2}

        spec = importlib.import_module("kafka.admin").OffsetSpec
        tp = kafka.TopicPartition(topic, 0)
        found = {s: admin.list_partition_offsets({tp: s})[tp] for s in (
            spec.EARLIEST, spec.LATEST, spec.MAX_TIMESTAMP, spec.EARLIEST_LOCAL, spec.LATEST_TIERED)}
        assert [(o.offset, o.timestamp) for o in found.values()] == [
            (0, -1), (3, -1), (1, 1_700_000_009_000), (0, -1), (-1, -1)]

        cluster = admin.describe_cluster()
        brokers = [(b["broker_id"], b["is_fenced"]) for b in cluster["brokers"]]
        assert brokers == [(cluster["controller_id"], False)]
        assert topic in admin.list_topics()
        group = unique_name("nobody")
        described = admin.describe_groups([group])[group]
        assert "GroupIdNotFoundError" in described["error"]
        assert f"Group {group} not found." in described["error"]
    finally:
        admin.close()


def test_librdkafka_sends_metadata_v13(bootstrap: str, topic_factory: TopicFactory) -> None:
    import logging
    import re

    from confluent_kafka.admin import AdminClient

    lines: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger = logging.getLogger(unique_name("rdkafka-protocol"))
    logger.addHandler(Capture())
    logger.setLevel(logging.DEBUG)
    topic = topic_factory.create(2)
    admin = AdminClient({"bootstrap.servers": bootstrap, "debug": "protocol", "logger": logger})
    listed = admin.list_topics(topic=topic, timeout=20)
    assert sorted(listed.topics[topic].partitions) == [0, 1]
    pattern = re.compile(r"Sent MetadataRequest \(v(\d+)")
    deadline = Deadline(10)
    while not any(pattern.search(line) for line in lines) and not deadline.expired():
        admin.poll(0.1)  # librdkafka hands its log lines to the logger from poll
    sent = {int(m.group(1)) for m in map(pattern.search, lines) if m}
    assert sent and max(sent) == 13, sent


def test_aiokafka_finds_its_newest_versions_in_ours(bootstrap: str, topic_factory: TopicFactory) -> None:
    async def versions() -> dict[int, tuple[int, int]]:
        client = importlib.import_module("aiokafka.client").AIOKafkaClient(bootstrap_servers=bootstrap)
        await client.bootstrap()
        try:
            conn = await client._get_conn(0)
            ranges: dict[int, tuple[int, int]] = dict(conn._versions)
            return ranges
        finally:
            await client.close()

    ours = asyncio.run(versions())
    assert ours == {r["api_key"]: (r["min_version"], r["max_version"]) for r in advertised_ranges()}
    modules = ("offset", "metadata", "commit", "fetch", "produce", "group", "coordination", "admin",
               "transaction")
    requests = [cls for module in modules
                for _name, cls in inspect.getmembers(importlib.import_module(f"aiokafka.protocol.{module}"),
                                                      inspect.isclass)
                if getattr(cls, "_CLASSES", None) and isinstance(getattr(cls, "API_KEY", None), int)]
    assert len(requests) >= 10
    for cls in requests:
        newest = max(c.API_VERSION for c in cls._CLASSES)
        if cls.API_KEY in ours:
            low, high = ours[cls.API_KEY]
            # aiokafka's choice (``RequestBuilder.prepare``): its newest version inside our range
            picked = max(c.API_VERSION for c in cls._CLASSES if low <= c.API_VERSION <= high)
            assert picked == newest, f"{cls.__name__}: v{picked} of v{newest}"
    run_roundtrip(AIOKAFKA, bootstrap, topic_factory.name("probe"), "gzip")
