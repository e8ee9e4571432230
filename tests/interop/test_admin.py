"""Admin APIs through real clients over TCP: topics, partitions, records, configs, cluster.

confluent-kafka's AdminClient (librdkafka) drives most tests at its own versions (CreateTopics v4,
DeleteTopics v4, CreatePartitions v2, DeleteRecords v2, DescribeConfigs v1, AlterConfigs and
IncrementalAlterConfigs); kafka-python's KafkaAdminClient covers what librdkafka does not send:
CreateTopics v7 (topic ids and returned configs), DeleteTopics by id (v6), DescribeConfigs with
ordered synonym lists and config types, DescribeCluster, DescribeLogDirs and DescribeClientQuotas.

Most tests use the shared ``bootstrap`` broker with topic names made unique per test.  Tests that
need non-default broker settings (topic deletion disabled, a configured retention, a different
``num.partitions``) start their own Streamlog broker, so they only run against Streamlog.
"""

from __future__ import annotations

import os
import time
import uuid
import warnings
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)
from kafka import KafkaAdminClient
from kafka import errors as kerrors
from kafka.admin import (
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePatternFilter,
)
from kafka.admin import ConfigResource as KConfigResource
from kafka.admin import ConfigResourceType as KResourceType
from kafka.admin import NewTopic as KNewTopic
from kafka.admin import ResourceType as KAclResourceType
from tests.support.brokerproc import BrokerProcess, broker_target

pytestmark = pytest.mark.interop

TIMEOUT = 20.0
SPECIAL_SETTINGS = {
    "delete.topic.enable": "false",
    "log.retention.ms": "3600000",
    "num.partitions": "3",
}
streamlog_only = pytest.mark.skipif(broker_target() != "streamlog",
                                    reason="needs a Streamlog broker started with its own settings")


# --- helpers ---------------------------------------------------------------------------------------


def unique(prefix: str = "admin") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 15000})


def error_of(fut: Future[Any]) -> KafkaError:
    with pytest.raises(KafkaException) as info:
        fut.result(timeout=TIMEOUT)
    err = info.value.args[0]
    assert isinstance(err, KafkaError)
    return err


def create(client: AdminClient, *topics: NewTopic, validate_only: bool = False) -> dict[str, Future[Any]]:
    futures: dict[str, Future[Any]] = client.create_topics(list(topics), validate_only=validate_only,
                                                           operation_timeout=10, request_timeout=TIMEOUT)
    return futures


def done(fut: Future[Any]) -> Any:
    return fut.result(timeout=TIMEOUT)


def make_topic(client: AdminClient, name: str, partitions: int = 1,
               config: dict[str, str] | None = None) -> None:
    done(create(client, NewTopic(name, partitions, 1, config=config or {}))[name])


def partitions_of(client: AdminClient, name: str) -> int | None:
    meta = client.list_topics(topic=None, timeout=TIMEOUT)
    topic = meta.topics.get(name)
    return None if topic is None or topic.error is not None else len(topic.partitions)


def topic_configs(client: AdminClient, name: str) -> dict[str, ConfigEntry]:
    resource = ConfigResource(ResourceType.TOPIC, name)
    futures = client.describe_configs([resource], request_timeout=TIMEOUT)
    result: dict[str, ConfigEntry] = done(futures[resource])
    return result


def incremental(client: AdminClient, name: str, *entries: ConfigEntry,
                validate_only: bool = False) -> Future[Any]:
    resource = ConfigResource(ResourceType.TOPIC, name, incremental_configs=list(entries))
    futures = client.incremental_alter_configs([resource], validate_only=validate_only,
                                               request_timeout=TIMEOUT)
    return next(iter(futures.values()))


def op(name: str, value: str | None, operation: AlterConfigOpType) -> ConfigEntry:
    return ConfigEntry(name, value, incremental_operation=operation)


def produce(bootstrap: str, topic: str, count: int, partition: int = 0,
            size: int = 10) -> list[KafkaError | None]:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    errors: list[KafkaError | None] = []
    for i in range(count):
        producer.produce(topic, value=(b"%d-" % i).ljust(size, b"x"), partition=partition,
                         on_delivery=lambda err, msg: errors.append(err))
    assert producer.flush(TIMEOUT) == 0
    return errors


def watermarks(bootstrap: str, topic: str, partition: int = 0) -> tuple[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("wm"),
                         "enable.auto.commit": False})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=TIMEOUT)
        return int(low), int(high)
    finally:
        consumer.close()


@pytest.fixture()
def client(bootstrap: str) -> AdminClient:
    return admin(bootstrap)


@pytest.fixture()
def kp_admin(bootstrap: str) -> Iterator[KafkaAdminClient]:
    kp = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(TIMEOUT * 1000))
    try:
        yield kp
    finally:
        kp.close()


@pytest.fixture(scope="module")
def special(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """A Streamlog broker with deletion disabled, a configured retention and num.partitions=3."""
    if broker_target() != "streamlog":
        pytest.skip("needs a Streamlog broker started with its own settings")
    proc = BrokerProcess(data_dir=tmp_path_factory.mktemp("admin-special"), settings=SPECIAL_SETTINGS)
    with proc:
        yield proc


def node_id(client: AdminClient) -> int:
    brokers = client.list_topics(timeout=TIMEOUT).brokers
    assert len(brokers) == 1
    return int(next(iter(brokers)))


# --- CreateTopics ----------------------------------------------------------------------------------


def test_create_topic_with_configs_is_visible(client: AdminClient) -> None:
    name = unique()
    make_topic(client, name, 3, {"retention.ms": "1000", "cleanup.policy": "compact"})
    assert partitions_of(client, name) == 3
    configs = topic_configs(client, name)
    assert configs["retention.ms"].value == "1000"
    assert configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["cleanup.policy"].value == "compact"
    assert configs["segment.bytes"].source == ConfigSource.DEFAULT_CONFIG.value
    assert configs["segment.bytes"].is_default


def test_create_topic_errors(client: AdminClient) -> None:
    name = unique()
    make_topic(client, name)
    assert error_of(create(client, NewTopic(name, 1, 1))[name]).code() == KafkaError.TOPIC_ALREADY_EXISTS

    other = unique()
    err = error_of(create(client, NewTopic(other, 1, 3))[other])
    assert err.code() == KafkaError.INVALID_REPLICATION_FACTOR
    assert "single-node" in err.str()

    bad = "bad name!"
    assert error_of(create(client, NewTopic(bad, 1, 1))[bad]).code() == KafkaError.TOPIC_EXCEPTION

    for config in ({"retention.ms": "soon"}, {"no.such.config": "1"}, {"cleanup.policy": "shred"}):
        topic = unique()
        err = error_of(create(client, NewTopic(topic, 1, 1, config=config))[topic])
        assert err.code() == KafkaError.INVALID_CONFIG, config
        assert partitions_of(client, topic) is None


def test_create_topic_manual_assignment(client: AdminClient) -> None:
    node = node_id(client)
    good, bad = unique(), unique()
    # librdkafka sends num_partitions = replication_factor = -1 with an assignment, as Kafka requires
    done(create(client, NewTopic(good, 2, replica_assignment=[[node], [node]]))[good])
    assert partitions_of(client, good) == 2
    err = error_of(create(client, NewTopic(bad, 1, replica_assignment=[[node + 5]]))[bad])
    assert err.code() == KafkaError.INVALID_REPLICA_ASSIGNMENT
    assert partitions_of(client, bad) is None


def test_create_topic_validate_only(client: AdminClient) -> None:
    name = unique()
    assert create(client, NewTopic(name, 2, 1), validate_only=True)[name].result(timeout=TIMEOUT) is None
    assert partitions_of(client, name) is None
    bad = NewTopic(name, 2, 1, config={"segment.ms": "-5"})
    err = error_of(create(client, bad, validate_only=True)[name])
    assert err.code() == KafkaError.INVALID_CONFIG
    make_topic(client, name, 2)  # validation left nothing behind
    assert partitions_of(client, name) == 2


def test_create_topics_v7_returns_id_and_configs(kp_admin: KafkaAdminClient) -> None:
    name = unique()
    result = kp_admin.create_topics({name: {"num_partitions": 2, "configs": {"retention.ms": "12345"}}})
    (topic,) = result["topics"]
    assert topic["name"] == name and topic["error_code"] == 0
    assert topic["num_partitions"] == 2 and topic["replication_factor"] == 1
    assert uuid.UUID(str(topic["topic_id"])) != uuid.UUID(int=0)
    assert topic["configs"]["retention.ms"]["value"] == "12345"
    assert topic["configs"]["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"
    assert topic["configs"]["cleanup.policy"]["config_source"] in ("DEFAULT_CONFIG", "STATIC_BROKER_CONFIG")
    described = kp_admin.describe_topics([name])
    assert str(described[0]["topic_id"]) == str(topic["topic_id"])


def test_create_topics_duplicate_name_in_one_request(kp_admin: KafkaAdminClient) -> None:
    name = unique()
    result = kp_admin.create_topics([KNewTopic(name, 1, 1), KNewTopic(name, 1, 1)], raise_errors=False)
    codes = {t["name"]: t["error_code"] for t in result["topics"]}
    assert codes == {name: kerrors.InvalidRequestError.errno}
    assert name not in kp_admin.list_topics()


@streamlog_only
def test_create_topic_uses_broker_default_partitions(special: BrokerProcess) -> None:
    client = admin(special.bootstrap)
    name = unique()
    create(client, NewTopic(name))[name].result(timeout=TIMEOUT)  # num_partitions and replication_factor -1
    assert partitions_of(client, name) == 3


# --- DeleteTopics ----------------------------------------------------------------------------------


def test_delete_topic(client: AdminClient, bootstrap: str) -> None:
    name = unique()
    make_topic(client, name, 2)
    assert produce(bootstrap, name, 5) == [None] * 5
    client.delete_topics([name], operation_timeout=10)[name].result(timeout=TIMEOUT)
    assert partitions_of(client, name) is None
    err = error_of(client.delete_topics([name], operation_timeout=10)[name])
    assert err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    make_topic(client, name, 1)  # the name is free again and the new topic starts empty
    assert watermarks(bootstrap, name) == (0, 0)


@streamlog_only
def test_delete_topic_removes_its_files(client: AdminClient, broker: BrokerProcess) -> None:
    """The files go too (on a background thread, after the directory is renamed away), also when
    the same name is created and deleted again at once."""
    assert broker.data_dir is not None
    name = unique()

    def leftovers() -> list[str]:
        return [n for n in os.listdir(broker.data_dir) if n.startswith(f"{name}-")]

    for _ in range(2):
        make_topic(client, name, 2)
        assert produce(broker.bootstrap, name, 5) == [None] * 5
        assert len(leftovers()) == 2
        client.delete_topics([name], operation_timeout=10)[name].result(timeout=TIMEOUT)
    deadline = time.monotonic() + 20
    while leftovers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftovers() == []


def test_delete_topic_by_id(kp_admin: KafkaAdminClient) -> None:
    name = unique()
    topic_id = uuid.UUID(str(kp_admin.create_topics({name: {"num_partitions": 1}})["topics"][0]["topic_id"]))
    result = kp_admin.delete_topics([topic_id])
    (entry,) = result["topics"]
    assert entry["error_code"] == 0 and entry["name"] == name
    assert uuid.UUID(str(entry["topic_id"])) == topic_id
    assert name not in kp_admin.list_topics()
    missing = kp_admin.delete_topics([uuid.uuid4()], raise_errors=False)["topics"]
    assert [e["error_code"] for e in missing] == [kerrors.UnknownTopicIdError.errno]


@streamlog_only
def test_reserved_internal_names_are_refused_but_double_underscore_is_allowed(client: AdminClient) -> None:
    # Kafka lets users create (and delete) topics whose names start with "__"; only the broker's own
    # internal logs are reserved.
    name = unique("__user")
    make_topic(client, name)
    client.delete_topics([name], operation_timeout=10)[name].result(timeout=TIMEOUT)
    # __consumer_offsets exists (an internal topic, listed by Metadata): Kafka's answer.
    futures = client.create_topics([NewTopic("__consumer_offsets", 1, 1)], operation_timeout=10)
    assert error_of(futures["__consumer_offsets"]).code() == KafkaError.TOPIC_ALREADY_EXISTS
    futures = client.create_topics([NewTopic("__cluster_metadata", 1, 1)], operation_timeout=10)
    assert error_of(futures["__cluster_metadata"]).code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


@streamlog_only
def test_delete_disabled(special: BrokerProcess) -> None:
    client = admin(special.bootstrap)
    name = unique()
    make_topic(client, name)
    err = error_of(client.delete_topics([name], operation_timeout=10)[name])
    assert err.code() == KafkaError.TOPIC_DELETION_DISABLED
    assert partitions_of(client, name) == 1


# --- CreatePartitions ------------------------------------------------------------------------------


def test_create_partitions(client: AdminClient) -> None:
    first, second = unique(), unique()
    make_topic(client, first, 1)
    make_topic(client, second, 2)
    futures = client.create_partitions([NewPartitions(first, 4), NewPartitions(second, 3)],
                                       request_timeout=TIMEOUT)
    for fut in futures.values():  # one result per topic, or librdkafka would time out
        assert fut.result(timeout=TIMEOUT) is None
    assert partitions_of(client, first) == 4
    assert partitions_of(client, second) == 3


def test_create_partitions_errors(client: AdminClient) -> None:
    name = unique()
    make_topic(client, name, 3)
    for count in (2, 3):
        err = error_of(client.create_partitions([NewPartitions(name, count)], request_timeout=TIMEOUT)[name])
        assert err.code() == KafkaError.INVALID_PARTITIONS, count
    missing = unique()
    err = error_of(client.create_partitions([NewPartitions(missing, 2)], request_timeout=TIMEOUT)[missing])
    assert err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    node = node_id(client)
    err = error_of(client.create_partitions([NewPartitions(name, 4, replica_assignment=[[node + 7]])],
                                            request_timeout=TIMEOUT)[name])
    assert err.code() == KafkaError.INVALID_REPLICA_ASSIGNMENT
    grow = NewPartitions(name, 5, replica_assignment=[[node], [node]])
    assert done(client.create_partitions([grow], validate_only=True, request_timeout=TIMEOUT)[name]) is None
    assert partitions_of(client, name) == 3
    done(client.create_partitions([grow], request_timeout=TIMEOUT)[name])
    assert partitions_of(client, name) == 5


# --- DeleteRecords ---------------------------------------------------------------------------------


def delete_before(client: AdminClient, topic: str, partition: int, offset: int) -> Future[Any]:
    tp = TopicPartition(topic, partition, offset)
    return next(iter(client.delete_records([tp], request_timeout=TIMEOUT).values()))


def test_delete_records(client: AdminClient, bootstrap: str) -> None:
    name = unique()
    make_topic(client, name, 2)
    assert produce(bootstrap, name, 10) == [None] * 10
    assert delete_before(client, name, 0, 4).result(timeout=TIMEOUT).low_watermark == 4
    assert watermarks(bootstrap, name) == (4, 10)
    assert delete_before(client, name, 0, 2).result(timeout=TIMEOUT).low_watermark == 4  # never moves back
    assert error_of(delete_before(client, name, 0, 11)).code() == KafkaError.OFFSET_OUT_OF_RANGE
    assert done(delete_before(client, name, 0, -1)).low_watermark == 10  # -1: the high watermark
    assert watermarks(bootstrap, name) == (10, 10)
    assert produce(bootstrap, name, 1) == [None]
    assert watermarks(bootstrap, name) == (10, 11)


def test_delete_records_compacted_topic(client: AdminClient) -> None:
    # (an unknown partition never reaches the broker: librdkafka finds no leader for it first)
    compacted = unique()
    make_topic(client, compacted, 1, {"cleanup.policy": "compact"})
    assert error_of(delete_before(client, compacted, 0, 0)).code() == KafkaError.POLICY_VIOLATION


# --- DescribeConfigs -------------------------------------------------------------------------------


def test_describe_configs_topic(client: AdminClient) -> None:
    name = unique()
    make_topic(client, name, 1, {"max.message.bytes": "2000"})
    configs = topic_configs(client, name)
    for key in ("cleanup.policy", "retention.ms", "retention.bytes", "segment.bytes", "segment.ms",
                "min.insync.replicas", "compression.type", "message.timestamp.type", "max.compaction.lag.ms"):
        assert key in configs, key
        assert not configs[key].is_read_only and not configs[key].is_sensitive
    assert configs["max.message.bytes"].value == "2000"
    assert configs["max.message.bytes"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert not configs["max.message.bytes"].is_default
    assert configs["retention.bytes"].value == "-1"

    missing = ConfigResource(ResourceType.TOPIC, unique())
    err = error_of(client.describe_configs([missing], request_timeout=TIMEOUT)[missing])
    assert err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_describe_configs_broker(client: AdminClient) -> None:
    resource = ConfigResource(ResourceType.BROKER, str(node_id(client)))
    configs = client.describe_configs([resource], request_timeout=TIMEOUT)[resource].result(timeout=TIMEOUT)
    for key in ("num.partitions", "auto.create.topics.enable", "log.retention.ms", "message.max.bytes"):
        assert key in configs, key
    assert configs["num.partitions"].is_read_only


def test_describe_configs_synonyms_and_types(kp_admin: KafkaAdminClient) -> None:
    name = unique()
    kp_admin.create_topics({name: {"num_partitions": 1, "configs": {"retention.ms": "5000"}}})
    resource = KConfigResource(KResourceType.TOPIC, name)
    described = kp_admin.describe_configs([resource], include_synonyms=True, config_filter="all")
    configs = described["topic"][name]
    retention = configs["retention.ms"]
    assert retention["value"] == "5000" and retention["config_source"] == "DYNAMIC_TOPIC_CONFIG"
    chain = [(s["name"], s["source"]) for s in retention["synonyms"]]
    assert chain[0] == ("retention.ms", "DYNAMIC_TOPIC_CONFIG")
    assert ("log.retention.ms", "DEFAULT_CONFIG") in chain
    if "config_type" in retention:  # DescribeConfigs v3+
        assert retention["config_type"] == "LONG"
        assert configs["cleanup.policy"]["config_type"] == "LIST"
    only = kp_admin.describe_configs([KConfigResource(KResourceType.TOPIC, name, ["segment.bytes"])],
                                     config_filter="all")
    assert set(only["topic"][name]) == {"segment.bytes"}


@streamlog_only
def test_describe_configs_static_broker_source(special: BrokerProcess) -> None:
    kp = KafkaAdminClient(bootstrap_servers=special.bootstrap, request_timeout_ms=int(TIMEOUT * 1000))
    try:
        name = unique()
        kp.create_topics({name: {"num_partitions": 1}})
        resource = KConfigResource(KResourceType.TOPIC, name)
        described = kp.describe_configs([resource], include_synonyms=True, config_filter="all")
        retention = described["topic"][name]["retention.ms"]
        assert retention["value"] == "3600000"
        assert retention["config_source"] == "STATIC_BROKER_CONFIG"
        assert [(s["name"], s["value"], s["source"]) for s in retention["synonyms"]] == [
            ("log.retention.ms", "3600000", "STATIC_BROKER_CONFIG"),
            ("log.retention.ms", "604800000", "DEFAULT_CONFIG"),
        ]
    finally:
        kp.close()


# --- AlterConfigs / IncrementalAlterConfigs --------------------------------------------------------


def alter(client: AdminClient, name: str, values: dict[str, str], validate_only: bool = False) -> Future[Any]:
    resource = ConfigResource(ResourceType.TOPIC, name, set_config=values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        futures = client.alter_configs([resource], validate_only=validate_only, request_timeout=TIMEOUT)
    return next(iter(futures.values()))


def test_alter_configs_replaces_overrides(client: AdminClient) -> None:
    name = unique()
    make_topic(client, name, 1, {"segment.bytes": "1048576"})
    alter(client, name, {"retention.ms": "60000"}).result(timeout=TIMEOUT)
    configs = topic_configs(client, name)
    assert configs["retention.ms"].value == "60000"
    assert configs["segment.bytes"].is_default  # not listed, so back to the default

    assert error_of(alter(client, name, {"retention.ms": "x"})).code() == KafkaError.INVALID_CONFIG
    alter(client, name, {"retention.ms": "1"}, validate_only=True).result(timeout=TIMEOUT)
    assert topic_configs(client, name)["retention.ms"].value == "60000"
    assert error_of(alter(client, unique(), {"retention.ms": "1"})).code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_alter_broker_config_is_refused(client: AdminClient) -> None:
    resource = ConfigResource(ResourceType.BROKER, str(node_id(client)), set_config={"num.partitions": "2"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        fut = client.alter_configs([resource], request_timeout=TIMEOUT)[resource]
    assert error_of(fut).code() == KafkaError.INVALID_REQUEST


def test_incremental_alter_configs(client: AdminClient) -> None:
    name = unique()
    make_topic(client, name, 1, {"segment.bytes": "1048576"})
    incremental(client, name, op("retention.ms", "7000", AlterConfigOpType.SET)).result(timeout=TIMEOUT)
    configs = topic_configs(client, name)
    assert configs["retention.ms"].value == "7000"
    assert configs["segment.bytes"].value == "1048576"  # untouched, unlike AlterConfigs

    done(incremental(client, name, op("cleanup.policy", "compact", AlterConfigOpType.APPEND)))
    assert topic_configs(client, name)["cleanup.policy"].value == "delete,compact"
    done(incremental(client, name, op("cleanup.policy", "delete", AlterConfigOpType.SUBTRACT)))
    assert topic_configs(client, name)["cleanup.policy"].value == "compact"

    incremental(client, name, op("retention.ms", None, AlterConfigOpType.DELETE)).result(timeout=TIMEOUT)
    assert topic_configs(client, name)["retention.ms"].is_default

    err = error_of(incremental(client, name, op("retention.ms", "5", AlterConfigOpType.APPEND)))
    assert err.code() == KafkaError.INVALID_CONFIG
    err = error_of(incremental(client, name, op("segment.bytes", "tiny", AlterConfigOpType.SET)))
    assert err.code() == KafkaError.INVALID_CONFIG
    incremental(client, name, op("segment.bytes", "2097152", AlterConfigOpType.SET),
                validate_only=True).result(timeout=TIMEOUT)
    assert topic_configs(client, name)["segment.bytes"].value == "1048576"
    err = error_of(incremental(client, unique(), op("retention.ms", "1", AlterConfigOpType.SET)))
    assert err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_incremental_alter_takes_effect_on_running_topic(client: AdminClient, bootstrap: str) -> None:
    name = unique()
    make_topic(client, name, 1)
    assert produce(bootstrap, name, 1, size=1000) == [None]
    incremental(client, name, op("max.message.bytes", "300", AlterConfigOpType.SET)).result(timeout=TIMEOUT)
    (err,) = produce(bootstrap, name, 1, size=1000)
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE
    incremental(client, name, op("max.message.bytes", None, AlterConfigOpType.DELETE)).result(timeout=TIMEOUT)
    assert produce(bootstrap, name, 1, size=1000) == [None]


# --- cluster ---------------------------------------------------------------------------------------


def test_describe_cluster(kp_admin: KafkaAdminClient, client: AdminClient, bootstrap: str) -> None:
    meta = client.list_topics(timeout=TIMEOUT)
    cluster = kp_admin.describe_cluster()
    assert cluster["cluster_id"] == meta.cluster_id
    assert cluster["controller_id"] == meta.controller_id
    (node,) = cluster["brokers"]
    assert node["broker_id"] == meta.controller_id
    assert "DESCRIBE" in cluster["authorized_operations"]  # no authorizer: every cluster operation
    assert (node["host"], node["port"]) == (bootstrap.rsplit(":", 1)[0], int(bootstrap.rsplit(":", 1)[1]))


def test_describe_log_dirs(kp_admin: KafkaAdminClient, client: AdminClient, bootstrap: str) -> None:
    name = unique()
    make_topic(client, name, 2)
    assert produce(bootstrap, name, 20, size=100) == [None] * 20
    (per_broker,) = kp_admin.describe_log_dirs()
    (log_dir,) = per_broker["log_dirs"]
    assert log_dir["error_code"] == 0
    sizes = {p["partition_index"]: p for t in log_dir["topics"] if t["name"] == name for p in t["partitions"]}
    assert set(sizes) == {0, 1}
    assert sizes[0]["partition_size"] >= 20 * 100
    assert sizes[1]["partition_size"] == 0
    assert all(p["offset_lag"] == 0 and not p["is_future_key"] for p in sizes.values())
    (only,) = kp_admin.describe_log_dirs({name: [1]})[0]["log_dirs"]
    listed = [(t["name"], [p["partition_index"] for p in t["partitions"]]) for t in only["topics"]]
    assert listed == [(name, [1])]


@streamlog_only
def test_describe_log_dirs_reports_data_dir(special: BrokerProcess) -> None:
    kp = KafkaAdminClient(bootstrap_servers=special.bootstrap, request_timeout_ms=int(TIMEOUT * 1000))
    try:
        (log_dir,) = kp.describe_log_dirs()[0]["log_dirs"]
        assert special.data_dir is not None
        assert Path(log_dir["log_dir"]) == special.data_dir.resolve()
        if "total_bytes" in log_dir:  # DescribeLogDirs v4+
            assert log_dir["total_bytes"] > 0 and 0 <= log_dir["usable_bytes"] <= log_dir["total_bytes"]
    finally:
        kp.close()


def test_describe_acls_security_disabled(client: AdminClient, kp_admin: KafkaAdminClient) -> None:
    any_filter = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                                  AclOperation.ANY, AclPermissionType.ANY)
    # librdkafka drops DescribeAcls' top-level error code (rd_kafka_DescribeAclsResponse_parse), so it
    # sees an empty listing; kafka-python raises the error.
    assert done(client.describe_acls(any_filter, request_timeout=TIMEOUT)) == []
    pattern = ResourcePatternFilter(KAclResourceType.ANY, None, ACLResourcePatternType.ANY)
    with pytest.raises(kerrors.SecurityDisabledError):
        kp_admin.describe_acls(ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY, pattern))


def test_describe_client_quotas_is_empty(kp_admin: KafkaAdminClient) -> None:
    from kafka.protocol.admin import DescribeClientQuotasRequest

    manager = kp_admin._manager
    response = manager.run(manager.send, DescribeClientQuotasRequest(components=[], strict=False))
    assert response.error_code == 0
    assert not response.entries
