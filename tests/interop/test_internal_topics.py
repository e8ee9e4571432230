"""The internal topics ``__consumer_offsets`` and ``__transaction_state``, as clients see them.

Theory of operation: the broker's two coordinator logs are listed by Metadata as internal topics of
one partition each (broker/topics.py says why one); this file checks it with librdkafka
(confluent-kafka), kafka-python and exact wire requests: listed among all topics and by name with
is_internal, left out of pattern subscriptions by clients that exclude internal topics (kafka-python's
``exclude_internal_topics``, on by default), refused to writers with Kafka's error codes, described
by DescribeConfigs, hidden by ``streamlog topics list`` unless asked.  Reading them is checked in
test_internal_topics_read.py.
"""

from __future__ import annotations

import importlib
import uuid
from typing import Any

import pytest
from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic
from tests.interop.test_cli import cli
from tests.support.cli_output import ok
from tests.support.interop import Deadline, TopicFactory, unique_name
from tests.support.kafka_wire import WireClient

from streamlog.protocol.errors import ErrorCode
from streamlog.protocol.records.builder import NewRecord, build_batch

pytestmark = pytest.mark.interop

E = ErrorCode
INTERNAL = ("__consumer_offsets", "__transaction_state")
kafka: Any = importlib.import_module("kafka")


def metadata(wire: WireClient, topics: list[dict[str, Any]] | None, version: int = 12) -> dict[str, Any]:
    return wire.call(3, version, {"topics": topics, "allow_auto_topic_creation": False,
                                  "include_topic_authorized_operations": False})


def test_listed_as_internal_among_all_and_by_name(bootstrap: str, topic_factory: TopicFactory) -> None:
    user = topic_factory.create(1)
    with WireClient(bootstrap) as wire:
        everything = {t["name"]: t for t in metadata(wire, None)["topics"]}
        by_name = {t["name"]: t for t in metadata(wire, [{"name": n, "topic_id": uuid.UUID(int=0)}
                                                          for n in INTERNAL])["topics"]}
        ids = [everything[n]["topic_id"] for n in INTERNAL]
        by_id = metadata(wire, [{"name": None, "topic_id": i} for i in ids])["topics"]
        old = {t["name"]: t for t in metadata(wire, None, version=1)["topics"]}
    assert everything[user]["is_internal"] is False
    for name in INTERNAL:
        for seen in (everything[name], by_name[name], old[name]):
            assert (seen["error_code"], seen["is_internal"]) == (0, True), name
            assert [p["partition_index"] for p in seen["partitions"]] == [0], name
        assert everything[name]["topic_id"] != uuid.UUID(int=0)
    assert [t["name"] for t in by_id] == list(INTERNAL)

    listed = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=20).topics
    assert all(name in listed and list(listed[name].partitions) == [0] for name in INTERNAL)


def test_pattern_subscription_leaves_internal_topics_out(bootstrap: str, topic_factory: TopicFactory) -> None:
    prefix = unique_name("pat")
    topic = topic_factory.create(1, suffix=prefix)
    seen: dict[bool, set[str]] = {}
    for exclude in (True, False):
        consumer = kafka.KafkaConsumer(bootstrap_servers=[bootstrap], group_id=unique_name("pattern"),
                                       exclude_internal_topics=exclude, request_timeout_ms=20_000)
        try:
            consumer.subscribe(pattern="^.*")
            deadline = Deadline(30)
            while topic not in (consumer.subscription() or set()) and not deadline.expired():
                consumer.poll(timeout_ms=200)
            seen[exclude] = set(consumer.subscription() or set())
        finally:
            consumer.close()
    assert topic in seen[True] and not seen[True] & set(INTERNAL)
    assert set(INTERNAL) <= seen[False], "without exclude_internal_topics the pattern matches them"


def test_librdkafka_pattern_subscription_and_the_connect_blacklist(bootstrap: str,
                                                                   topic_factory: TopicFactory) -> None:
    """librdkafka's regex subscriptions match internal topics (as against Kafka: it has no
    exclude.internal.topics); the blacklist Streamlog's Connect sinks set keeps them out."""
    from confluent_kafka import Consumer

    from streamlog.connect.runtime.sink_worker import INTERNAL_TOPICS_BLACKLIST

    topic = topic_factory.create(1)
    seen: dict[bool, set[str]] = {}
    for blacklisted in (False, True):
        extra = {"topic.blacklist": INTERNAL_TOPICS_BLACKLIST} if blacklisted else {}
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_name("rx"), **extra})
        try:
            consumer.subscribe(["^.*"])
            deadline = Deadline(30)
            while topic not in {tp.topic for tp in consumer.assignment()} and not deadline.expired():
                consumer.poll(0.2)
            seen[blacklisted] = {tp.topic for tp in consumer.assignment()}
        finally:
            consumer.close()
    assert topic in seen[False] and set(INTERNAL) <= seen[False]
    assert topic in seen[True] and not set(INTERNAL) & seen[True]


def test_writes_are_refused_as_kafka_does(bootstrap: str) -> None:
    batch = build_batch([NewRecord(b"k", b"v", 1_700_000_000_000)])
    with WireClient(bootstrap) as wire:
        for name in INTERNAL:
            produced = wire.call(0, 8, {"transactional_id": None, "acks": -1, "timeout_ms": 10_000,
                                        "topic_data": [{"name": name,
                                                        "partition_data": [{"index": 0, "records": batch}]}]})
            part = produced["responses"][0]["partition_responses"][0]
            assert part["error_code"] == E.INVALID_TOPIC_EXCEPTION, name
            assert part["error_message"] == f"Cannot append to internal topic {name}"
            trimmed = wire.call(21, 2, {"topics": [{"name": name, "partitions": [
                {"partition_index": 0, "offset": -1}]}], "timeout_ms": 10_000})
            assert trimmed["topics"][0]["partitions"][0]["error_code"] == E.INVALID_TOPIC_EXCEPTION
            deleted = wire.call(20, 6, {"topics": [{"name": name, "topic_id": uuid.UUID(int=0)}],
                                        "timeout_ms": 10_000})
            assert deleted["responses"][0]["error_code"] == E.INVALID_TOPIC_EXCEPTION
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic("__consumer_offsets", num_partitions=1)], request_timeout=20)
    with pytest.raises(KafkaException) as raised:
        futures["__consumer_offsets"].result(timeout=30)
    assert raised.value.args[0].code() == E.TOPIC_ALREADY_EXISTS
    listed = admin.list_topics(timeout=20).topics
    assert list(listed["__consumer_offsets"].partitions) == [0], "still one partition"


def test_describe_configs(bootstrap: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    resources = [ConfigResource(ConfigResource.Type.TOPIC, name) for name in INTERNAL]
    described = {r.name: f.result(timeout=30) for r, f in admin.describe_configs(resources).items()}
    for name in INTERNAL:
        assert described[name]["cleanup.policy"].value == "compact", name
        assert not described[name]["cleanup.policy"].is_default, name


def test_alter_configs_refused_with_policy_violation(bootstrap: str) -> None:
    """Kafka alters the internal topics' configs; Streamlog keeps them fixed and says so with
    POLICY_VIOLATION (not UNKNOWN_TOPIC_OR_PARTITION), after the usual validation."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for name in INTERNAL:
        for validate_only in (False, True):
            resource = ConfigResource(ConfigResource.Type.TOPIC, name, set_config={"retention.ms": "60000"})
            with pytest.raises(KafkaException) as raised:
                admin.alter_configs([resource], validate_only=validate_only)[resource].result(timeout=30)
            assert raised.value.args[0].code() == E.POLICY_VIOLATION, name
            assert f"internal topic {name}" in raised.value.args[0].str()
        entry = ConfigEntry("segment.bytes", "1048576", incremental_operation=AlterConfigOpType.SET)
        resource = ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=[entry])
        with pytest.raises(KafkaException) as raised:
            admin.incremental_alter_configs([resource])[resource].result(timeout=30)
        assert raised.value.args[0].code() == E.POLICY_VIOLATION, name
        bad = ConfigEntry("segment.bytes", "not-a-number", incremental_operation=AlterConfigOpType.SET)
        resource = ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=[bad])
        with pytest.raises(KafkaException) as raised:
            admin.incremental_alter_configs([resource])[resource].result(timeout=30)
        assert raised.value.args[0].code() == E.INVALID_CONFIG, name  # validated first, as Kafka
    described = {r.name: f.result(timeout=30) for r, f in admin.describe_configs(
        [ConfigResource(ConfigResource.Type.TOPIC, name) for name in INTERNAL]).items()}
    for name in INTERNAL:
        assert described[name]["retention.ms"].is_default, "nothing was applied"
        assert described[name]["segment.bytes"].value != "1048576"


def test_topics_list_hides_them_unless_asked(bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory.create(1)
    plain = ok(cli("topics", "list", bootstrap=bootstrap)).split()
    every = ok(cli("topics", "list", "--internal", bootstrap=bootstrap)).split()
    assert topic in plain and not set(INTERNAL) & set(plain)
    assert topic in every and set(INTERNAL) <= set(every)


def test_confluent_consumer_can_assign_them(bootstrap: str) -> None:
    """librdkafka reads the internal topics' watermarks (its consumer honours them like any topic)."""
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_name("wm")})
    try:
        for name in INTERNAL:
            low, high = consumer.get_watermark_offsets(TopicPartition(name, 0), timeout=20)
            assert 0 <= low <= high, name
    finally:
        consumer.close()
