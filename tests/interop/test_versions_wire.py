"""The newest versions of ListOffsets, Metadata, FindCoordinator, DescribeGroups and DescribeCluster
over TCP, with exact requests (our own codec, no client library in between).

Theory of operation: librdkafka, kafka-python and aiokafka send some of these versions (their tests
are in test_versions_clients.py); the versions no installed client sends are checked here, answer
by answer.  The first test holds the advertised ranges to Kafka 4.1's: kafka-python 3.x ships the
ApiVersions answer of a real 4.1 broker (``kafka.protocol.broker_version_data``), and for every API
this file's part of Streamlog owns, our range must be that one.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from confluent_kafka import Producer
from tests.support.interop import TopicFactory, unique_name
from tests.support.kafka_wire import WireClient

from streamlog.protocol.errors import ErrorCode

pytestmark = pytest.mark.interop

E = ErrorCode

# Every API whose range is Kafka 4.1's here (Produce, Fetch, the transaction APIs and KIP-848's are
# checked by their own tests: they move with their own work).
KAFKA_41_KEYS = (2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 19, 20, 21, 23, 29, 32, 33, 35, 37, 42, 44, 47,
                 48, 60)


def kafka_41_ranges() -> dict[int, tuple[int, int]]:
    data = importlib.import_module("kafka.protocol.broker_version_data")
    ranges: dict[int, tuple[int, int]] = data.BROKER_API_VERSIONS[(4, 1)]
    return ranges


def advertised(wire: WireClient) -> dict[int, tuple[int, int]]:
    answer = wire.call(18, 3, {"client_software_name": "wire-test", "client_software_version": "1"})
    assert answer["error_code"] == 0
    return {k["api_key"]: (k["min_version"], k["max_version"]) for k in answer["api_keys"]}


def produce_three(bootstrap: str, topic: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i, ts in enumerate((1_700_000_000_000, 1_700_000_009_000, 1_700_000_005_000)):
        producer.produce(topic, value=b"v%d" % i, partition=0, timestamp=ts)
    assert producer.flush(30) == 0


def test_advertised_ranges_are_kafka_41s(bootstrap: str) -> None:
    kafka41 = kafka_41_ranges()
    with WireClient(bootstrap) as wire:
        ours = advertised(wire)
    wrong = {key: (ours.get(key), kafka41[key]) for key in KAFKA_41_KEYS if ours.get(key) != kafka41[key]}
    assert wrong == {}, "ours != Kafka 4.1's"


def list_offsets(wire: WireClient, version: int, topic: str, timestamp: int) -> dict[str, Any]:
    body = {"replica_id": -1, "isolation_level": 0, "timeout_ms": 5_000,
            "topics": [{"name": topic, "partitions": [{"partition_index": 0, "current_leader_epoch": -1,
                                                       "timestamp": timestamp}]}]}
    part: dict[str, Any] = wire.call(2, version, body)["topics"][0]["partitions"][0]
    return part


def test_list_offsets_v8_to_v10(bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory.create(1)
    produce_three(bootstrap, topic)
    with WireClient(bootstrap) as wire:
        for version in (8, 9, 10):
            where = f"v{version}"
            latest = list_offsets(wire, version, topic, -1)
            assert (latest["error_code"], latest["offset"]) == (0, 3), where
            local = list_offsets(wire, version, topic, -4)  # earliest local = earliest (nothing tiered)
            assert (local["error_code"], local["offset"], local["timestamp"]) == (0, 0, -1), where
            newest = list_offsets(wire, version, topic, -3)
            assert (newest["offset"], newest["timestamp"]) == (1, 1_700_000_009_000), where
            by_time = list_offsets(wire, version, topic, 1_700_000_004_000)
            assert (by_time["offset"], by_time["timestamp"]) == (1, 1_700_000_009_000), where
        tiered = list_offsets(wire, 9, topic, -5)  # latest tiered: none, as Kafka without remote storage
        assert (tiered["error_code"], tiered["offset"], tiered["timestamp"]) == (0, -1, -1)
        assert tiered["leader_epoch"] == -1
        assert list_offsets(wire, 10, topic, -6)["error_code"] == E.INVALID_REQUEST
        gone = list_offsets(wire, 10, unique_name("missing"), -1)
        assert gone["error_code"] == E.UNKNOWN_TOPIC_OR_PARTITION


def test_metadata_v13_top_level_error_code(bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory.create(2)
    missing = unique_name("missing")
    with WireClient(bootstrap) as wire:
        answer = wire.call(3, 13, {"topics": [{"name": topic}, {"name": missing}],
                                   "allow_auto_topic_creation": False,
                                   "include_topic_authorized_operations": False})
    assert answer["error_code"] == 0
    found, unknown = answer["topics"]
    assert (found["name"], found["error_code"], len(found["partitions"])) == (topic, 0, 2)
    assert (unknown["name"], unknown["error_code"]) == (missing, E.UNKNOWN_TOPIC_OR_PARTITION)
    assert [b["node_id"] for b in answer["brokers"]] == [answer["controller_id"]]


def test_find_coordinator_v5_v6_batched(bootstrap: str) -> None:
    port = int(bootstrap.rpartition(":")[2])
    with WireClient(bootstrap) as wire:
        for version in (5, 6):
            groups = wire.call(10, version, {"key_type": 0, "coordinator_keys": ["g1", "g2"]})
            assert [c["key"] for c in groups["coordinators"]] == ["g1", "g2"]
            assert all(c["error_code"] == 0 and c["port"] == port for c in groups["coordinators"])
            txn = wire.call(10, version, {"key_type": 1, "coordinator_keys": ["t1"]})
            assert txn["coordinators"][0]["error_code"] == 0
            # 2 = share-group state (KIP-932): no share coordinator here, Kafka's answer without one
            share = wire.call(10, version, {"key_type": 2, "coordinator_keys": ["g1:topic:0"]})
            (entry,) = share["coordinators"]
            assert (entry["error_code"], entry["node_id"]) == (E.INVALID_REQUEST, -1)


def test_describe_groups_v6_unknown_group(bootstrap: str) -> None:
    group = unique_name("nobody")
    with WireClient(bootstrap) as wire:
        (new,) = wire.call(15, 6, {"groups": [group], "include_authorized_operations": False})["groups"]
        (old,) = wire.call(15, 5, {"groups": [group], "include_authorized_operations": False})["groups"]
    assert (new["group_id"], new["error_code"]) == (group, E.GROUP_ID_NOT_FOUND)
    assert new["error_message"] == f"Group {group} not found."
    assert (old["error_code"], old["group_state"]) == (0, "Dead")  # before v6: a Dead group, no error


def test_describe_cluster_v2(bootstrap: str) -> None:
    with WireClient(bootstrap) as wire:
        answer = wire.call(60, 2, {"include_cluster_authorized_operations": False, "endpoint_type": 1,
                                   "include_fenced_brokers": True})
    assert answer["error_code"] == 0
    (node,) = answer["brokers"]
    assert node["is_fenced"] is False
    assert node["broker_id"] == answer["controller_id"]
