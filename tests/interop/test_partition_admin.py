"""ElectLeaders, partition reassignments, AlterReplicaLogDirs and DescribeTopicPartitions over TCP.

kafka-python 3.x's KafkaAdminClient sends all five (ElectLeaders v2, AlterPartitionReassignments v1,
ListPartitionReassignments v0, AlterReplicaLogDirs v2, DescribeTopicPartitions v0) and
confluent-kafka's AdminClient sends ElectLeaders; the exact requests no client sends (ElectLeaders
v0, an unknown election type, a cursor outside the topic list) go through our own codec
(``WireClient``).  The advertised ranges are held to a real Kafka 4.1 broker's (kafka-python ships
its ApiVersions answer).  A single node: every partition's only replica is this broker, the leader
already, in its one log directory.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import pytest
from confluent_kafka import ElectionType, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient
from kafka import KafkaAdminClient
from kafka import TopicPartition as KTopicPartition
from kafka import errors as kerrors
from kafka.admin import NewTopic as KNewTopic
from tests.support.brokerproc import BrokerProcess, broker_target
from tests.support.interop import TopicFactory
from tests.support.kafka_wire import WireClient

from streamlog.protocol.errors import ErrorCode

pytestmark = [
    pytest.mark.interop,
    # tansu serves none of these APIs but ListPartitionReassignments and DescribeTopicPartitions; a
    # real Kafka (STREAMLOG_TEST_TARGET=external) has several brokers' worth of answers.
    pytest.mark.skipif(broker_target() != "streamlog", reason="the answers of a single Streamlog node"),
]

TIMEOUT = 20.0
KEYS = (34, 43, 45, 46, 75)
E_NOT_NEEDED = ErrorCode.ELECTION_NOT_NEEDED


@pytest.fixture()
def kp_admin(bootstrap: str) -> Iterator[KafkaAdminClient]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(TIMEOUT * 1000))
    yield admin
    admin.close()


def node_of(wire: WireClient) -> int:
    answer = wire.call(3, 12, {"topics": [], "allow_auto_topic_creation": False,
                               "include_topic_authorized_operations": False})
    (broker,) = answer["brokers"]
    return int(broker["node_id"])


def test_advertised_ranges_are_kafka_41s(bootstrap: str) -> None:
    kafka41 = importlib.import_module("kafka.protocol.broker_version_data").BROKER_API_VERSIONS[(4, 1)]
    with WireClient(bootstrap) as wire:
        answer = wire.call(18, 3, {"client_software_name": "wire-test", "client_software_version": "1"})
    ours = {k["api_key"]: (k["min_version"], k["max_version"]) for k in answer["api_keys"]}
    assert {key: ours.get(key) for key in KEYS} == {key: kafka41[key] for key in KEYS}


def test_elect_leaders_is_never_needed(bootstrap: str, kp_admin: KafkaAdminClient,
                                       topic_factory: TopicFactory) -> None:
    topic = topic_factory(2, suffix="elect")
    answer = kp_admin.elect_leaders(0, {topic: [0, 1], "no-such-topic-x": [0]}, raise_errors=False)
    codes = {(r.topic, p.partition_id): p.error_code
             for r in answer.replica_election_results for p in r.partition_result}
    assert codes == {(topic, 0): ErrorCode.ELECTION_NOT_NEEDED, (topic, 1): ErrorCode.ELECTION_NOT_NEEDED,
                     ("no-such-topic-x", 0): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION}

    client = AdminClient({"bootstrap.servers": bootstrap})
    unclean = client.elect_leaders(ElectionType.UNCLEAN, [TopicPartition(topic, 0)]).result(timeout=TIMEOUT)
    assert [err.code() for err in unclean.values()] == [KafkaError.ELECTION_NOT_NEEDED]
    assert client.elect_leaders(ElectionType.PREFERRED, None).result(
        timeout=TIMEOUT) == {}  # every partition: Kafka lists only those it elected

    with WireClient(bootstrap) as wire:
        v0 = wire.call(43, 0, {"topic_partitions": [{"topic": topic, "partitions": [1]}], "timeout_ms": 1000})
        assert v0["replica_election_results"][0]["partition_result"][0]["error_code"] == E_NOT_NEEDED
        odd = wire.call(43, 2, {"election_type": 5, "topic_partitions": [{"topic": topic, "partitions": [0]}],
                                "timeout_ms": 1000})
        (result,) = odd["replica_election_results"][0]["partition_result"]
        assert result["error_code"] == ErrorCode.INVALID_REQUEST


def test_reassignments(bootstrap: str, kp_admin: KafkaAdminClient, topic_factory: TopicFactory) -> None:
    topic = topic_factory(2, suffix="reassign")
    with WireClient(bootstrap) as wire:
        node = node_of(wire)
    result = kp_admin.alter_partition_reassignments({
        KTopicPartition(topic, 0): [node],          # where it is already: nothing to do
        KTopicPartition(topic, 1): [node + 1],      # no such broker
    })
    assert result[KTopicPartition(topic, 0)] is None
    assert result[KTopicPartition(topic, 1)] is kerrors.InvalidReplicationAssignmentError
    refused = kp_admin.alter_partition_reassignments({
        KTopicPartition(topic, 0): [node, node],
        KTopicPartition(topic, 1): None,            # cancel: none in progress
        KTopicPartition(topic, 7): [node],
    })
    assert refused == {KTopicPartition(topic, 0): kerrors.InvalidReplicationAssignmentError,
                       KTopicPartition(topic, 1): kerrors.NoReassignmentInProgressError,
                       KTopicPartition(topic, 7): kerrors.UnknownTopicOrPartitionError}
    assert kp_admin.list_partition_reassignments() == {}
    assert kp_admin.list_partition_reassignments({topic: [0, 1]}) == {}


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    if broker_target() != "streamlog":
        pytest.skip("compares the answer with the broker's own data directory")
    with BrokerProcess(data_dir=tmp_path_factory.mktemp("logdirs")) as proc:
        yield proc


def test_alter_replica_log_dirs(own: BrokerProcess) -> None:
    assert own.data_dir is not None
    admin = KafkaAdminClient(bootstrap_servers=own.bootstrap, request_timeout_ms=int(TIMEOUT * 1000))
    try:
        admin.create_topics([KNewTopic("moved", 2, 1)])
        with WireClient(own.bootstrap) as wire:
            node = node_of(wire)
        here = str(own.data_dir.resolve())
        result = admin.alter_replica_log_dirs({("moved", 0, node): here, ("moved", 5, node): here})
        codes = {(tpr.topic, tpr.partition): err for tpr, err in result.items()}
        assert codes == {("moved", 0): kerrors.NoError, ("moved", 5): kerrors.ReplicaNotAvailableError}
        elsewhere = admin.alter_replica_log_dirs({("moved", 1, node): str(own.data_dir / "other")})
        assert list(elsewhere.values()) == [kerrors.LogDirNotFoundError]
    finally:
        admin.close()


def test_describe_topic_partitions_pages(bootstrap: str, kp_admin: KafkaAdminClient,
                                         topic_factory: TopicFactory) -> None:
    first = topic_factory(3, suffix="dtp-a")
    second = topic_factory(2, suffix="dtp-b")
    with WireClient(bootstrap) as wire:
        node = node_of(wire)
    seen: list[tuple[str, int]] = []
    cursor = None
    pages = 0
    while True:
        page = kp_admin.describe_topic_partitions([second, first, "dtp-missing-x"],
                                                  response_partition_limit=2, cursor=cursor)
        pages += 1
        for topic in page["topics"]:
            if topic["name"] == "dtp-missing-x":
                assert topic["error_code"] == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                continue
            assert topic["error_code"] == 0 and not topic["is_internal"]
            for part in topic["partitions"]:
                assert (part["leader_id"], part["replica_nodes"], part["isr_nodes"]) == (node, [node], [node])
                assert part["offline_replicas"] == [] and not part["eligible_leader_replicas"]
                seen.append((topic["name"], part["partition_index"]))
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 10
    assert seen == sorted([(first, i) for i in range(3)] + [(second, i) for i in range(2)])
    assert pages == 3

    with WireClient(bootstrap) as wire:
        every = wire.call(75, 0, {"topics": [], "response_partition_limit": 2000, "cursor": None})
        internal = {t["name"]: t["is_internal"] for t in every["topics"] if t["name"].startswith("__")}
        assert internal == {"__consumer_offsets": True, "__transaction_state": True}
        assert {first, second} <= {t["name"] for t in every["topics"]}
        odd = wire.call(75, 0, {"topics": [{"name": first}], "response_partition_limit": 10,
                                "cursor": {"topic_name": second, "partition_index": 0}})
    assert [(t["name"], t["error_code"]) for t in odd["topics"]] == [(first, ErrorCode.INVALID_REQUEST)]
