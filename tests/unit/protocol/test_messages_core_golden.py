"""Golden tests against kafka-python 3.x's own protocol classes (an independent implementation).

kafka-python generates its encoders from the same Kafka JSON specs, with the same snake_case field
names, so it is a good oracle: requests that kafka-python builds must decode with our codec to the
values it was given, and responses we encode must decode with kafka-python.  Hand-written cases
pin the fields clients care most about; a Hypothesis differential test then checks every core API
and served version byte-for-byte against kafka-python's encoder and through its decoder.

kafka-python differences bridged here: Metadata and DescribeCluster responses rename
``*_authorized_operations`` to ``authorized_operations`` and decode it to a set of bit positions
(None for INT32_MIN); a tagged struct that is absent decodes to None rather than its default; the
all-zero UUID decodes to None.
"""

from __future__ import annotations

import importlib
import uuid
import warnings
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.strategies import fill_defaults, is_present, message, normalize

from streamlog.protocol import codec, registry
from streamlog.protocol.codec import Msg, default_of
from streamlog.protocol.messages.cluster import (
    DESCRIBE_ACLS,
    DESCRIBE_CLIENT_QUOTAS,
    DESCRIBE_CLUSTER,
    DESCRIBE_LOG_DIRS,
)
from streamlog.protocol.messages.configs import ALTER_CONFIGS, DESCRIBE_CONFIGS, INCREMENTAL_ALTER_CONFIGS
from streamlog.protocol.messages.fetch import FETCH
from streamlog.protocol.messages.list_offsets import LIST_OFFSETS
from streamlog.protocol.messages.metadata import METADATA
from streamlog.protocol.messages.offset_for_leader_epoch import OFFSET_FOR_LEADER_EPOCH
from streamlog.protocol.messages.produce import PRODUCE
from streamlog.protocol.messages.topics import CREATE_PARTITIONS, CREATE_TOPICS, DELETE_RECORDS, DELETE_TOPICS
from streamlog.protocol.primitives import ZERO_UUID
from streamlog.protocol.schema import STRUCT, STRUCT_ARRAY, UUID, ApiSpec, Field

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    kafka_api = pytest.importorskip("kafka.protocol.api_message")
    _MODULES = [
        importlib.import_module(f"kafka.protocol.{name}")
        for name in ("producer.produce", "consumer.fetch", "consumer.offsets", "metadata.metadata",
                     "admin.topics", "admin.configs", "admin.cluster", "admin.client_quotas", "admin.acl")
    ]

CORE_SPECS: list[ApiSpec] = [
    PRODUCE, FETCH, LIST_OFFSETS, METADATA, OFFSET_FOR_LEADER_EPOCH,
    CREATE_TOPICS, DELETE_TOPICS, CREATE_PARTITIONS, DELETE_RECORDS,
    DESCRIBE_CONFIGS, ALTER_CONFIGS, INCREMENTAL_ALTER_CONFIGS,
    DESCRIBE_CLUSTER, DESCRIBE_LOG_DIRS, DESCRIBE_CLIENT_QUOTAS, DESCRIBE_ACLS,
]


def _kafka_classes() -> dict[tuple[int, str], Any]:
    found: dict[tuple[int, str], Any] = {}
    for mod in _MODULES:
        for attr in vars(mod).values():
            if (isinstance(attr, type) and issubclass(attr, kafka_api.ApiMessage)
                    and attr is not kafka_api.ApiMessage and getattr(attr, "_json", None)):
                message_cls: Any = attr  # kafka-python is untyped; its class attributes are dynamic
                found[(message_cls.API_KEY, message_cls.type)] = message_cls
    return found


KAFKA = _kafka_classes()
_BITFIELDS = {"topic_authorized_operations", "cluster_authorized_operations"}
_OPS_UNSET = -(2**31)


def _to_bits(value: int) -> set[int] | None:
    return None if value == _OPS_UNSET else {b for b in range(32) if (value >> b) & 1}


def _from_bits(bits: set[int] | None) -> int:
    if bits is None:
        return _OPS_UNSET
    value = sum(1 << b for b in bits)
    return value - (1 << 32) if value >= 1 << 31 else value


def _kafka_name(names: Any, name: str) -> str:
    if name not in names and name in _BITFIELDS and "authorized_operations" in names:
        return "authorized_operations"
    return name


def to_kafka(cls: Any, fields: tuple[Field, ...], msg: Msg, version: int, flexible: bool,
             top: bool = False) -> Any:
    """Build kafka-python's object for one of our body dicts (tagged fields only when non-default)."""
    kwargs: dict[str, Any] = {}
    for fld in fields:
        if not is_present(fld, version, flexible):
            continue
        value = msg.get(fld.name, default_of(fld))
        if fld.tag is not None and value == default_of(fld):
            continue
        name = _kafka_name(cls.fields, fld.name)
        sub = cls.fields[name]
        if fld.type == STRUCT and value is not None:
            value = to_kafka(sub.data_class, fld.fields, value, version, flexible)
        elif fld.type == STRUCT_ARRAY and value is not None:
            value = [to_kafka(sub.data_class, fld.fields, item, version, flexible) for item in value]
        elif name != fld.name:
            value = _to_bits(value)
        kwargs[name] = value
    return cls[version](**kwargs) if top else cls(version=version, **kwargs)


def from_kafka(fields: tuple[Field, ...], version: int, flexible: bool, data: dict[str, Any]) -> Msg:
    """kafka-python's ``to_dict(json=False)`` in our shape (every declared field, defaults filled)."""
    out: Msg = {}
    for fld in fields:
        if not is_present(fld, version, flexible):
            out[fld.name] = default_of(fld)
            continue
        name = _kafka_name(data, fld.name)
        value = data[name]
        if fld.type == STRUCT:
            if value is None and fld.tag is not None:
                value = default_of(fld)
            elif value is not None:
                value = from_kafka(fld.fields, version, flexible, value)
        elif fld.type == STRUCT_ARRAY and value is not None:
            value = [from_kafka(fld.fields, version, flexible, item) for item in value]
        elif name != fld.name:
            value = _from_bits(value)
        elif fld.type == UUID and value is None:
            value = ZERO_UUID
        out[fld.name] = value
    return out


def ours_decode(spec: ApiSpec, kind: str, version: int, wire: bytes) -> Msg:
    fields = spec.request if kind == "request" else spec.response
    body, end = codec.decode(fields, version, version in spec.flexible, wire)
    assert end == len(wire)
    return normalize(body)  # type: ignore[no-any-return]


def kafka_decode(spec: ApiSpec, kind: str, version: int, wire: bytes) -> dict[str, Any]:
    cls = KAFKA[(spec.key, kind)]
    decoded: dict[str, Any] = cls.decode(wire, version=version).to_dict(json=False)
    return decoded


# --- hand-written cases: kafka-python requests decoded by us ---------------------------------------

TOPIC_ID = uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
OLD_ID = uuid.UUID("0e7f7e9c-1b0e-4c1c-9a53-7bb2d1f2a001")
ProduceRequest = KAFKA[(0, "request")]
FetchRequest = KAFKA[(1, "request")]
ListOffsetsRequest = KAFKA[(2, "request")]
MetadataRequest = KAFKA[(3, "request")]


@pytest.mark.parametrize("version", [3, 7, 8, 9, 11, 12, 13])
def test_produce_request_from_kafka_python(version: int) -> None:
    batch = b"\x00" * 8 + b"batch-bytes"
    topic = ProduceRequest.TopicProduceData
    part = topic.PartitionProduceData
    named: dict[str, Any] = {"topic_id": TOPIC_ID} if version >= 13 else {"name": "orders"}
    req = ProduceRequest[version](
        transactional_id="txn-1", acks=-1, timeout_ms=30000,
        topic_data=[topic(**named, partition_data=[part(index=2, records=batch),
                                                   part(index=5, records=None)])],
    )
    body = ours_decode(PRODUCE, "request", version, bytes(req.encode()))
    assert body["transactional_id"] == "txn-1"
    assert body["acks"] == -1
    assert body["timeout_ms"] == 30000
    [t] = body["topic_data"]
    assert (t["topic_id"] if version >= 13 else t["name"]) == (TOPIC_ID if version >= 13 else "orders")
    assert [(p["index"], p["records"]) for p in t["partition_data"]] == [(2, batch), (5, None)]


def test_produce_request_records_are_views_into_the_frame() -> None:
    topic = ProduceRequest.TopicProduceData
    req = ProduceRequest[9](acks=1, timeout_ms=5, topic_data=[
        topic(name="t", partition_data=[topic.PartitionProduceData(index=0, records=b"abcdef")])])
    frame = bytearray(req.encode())
    body, _ = codec.decode(PRODUCE.request, 9, True, frame)
    view = body["topic_data"][0]["partition_data"][0]["records"]
    assert isinstance(view, memoryview)
    view[0:1] = b"X"  # the broker writes base offsets in place
    assert b"Xbcdef" in frame


@pytest.mark.parametrize("version", [4, 7, 9, 11, 12, 13, 15, 16, 17, 18])
def test_fetch_request_from_kafka_python(version: int) -> None:
    topic = FetchRequest.FetchTopic
    part = topic.FetchPartition
    extra: dict[str, Any] = {"high_watermark": 777} if version >= 18 else {}
    named: dict[str, Any] = {"topic_id": TOPIC_ID} if version >= 13 else {"topic": "events"}
    kwargs: dict[str, Any] = dict(
        max_wait_ms=500, min_bytes=1, max_bytes=52428800, isolation_level=1,
        topics=[topic(**named, partitions=[
            part(partition=0, current_leader_epoch=4, fetch_offset=1234, log_start_offset=-1,
                 partition_max_bytes=1048576, last_fetched_epoch=3, **extra)])],
    )
    if version < 15:
        kwargs["replica_id"] = -1
    if version >= 7:
        forgot: dict[str, Any] = {"topic_id": OLD_ID} if version >= 13 else {"topic": "old"}
        kwargs.update(session_id=77, session_epoch=2,
                      forgotten_topics_data=[FetchRequest.ForgottenTopic(**forgot, partitions=[1, 2])])
    if version >= 11:
        kwargs["rack_id"] = "rack-a"
    if version >= 12:
        kwargs["cluster_id"] = "cluster-xyz"
    body = ours_decode(FETCH, "request", version, bytes(FetchRequest[version](**kwargs).encode()))
    assert (body["max_wait_ms"], body["min_bytes"], body["max_bytes"]) == (500, 1, 52428800)
    assert body["isolation_level"] == 1
    p = body["topics"][0]["partitions"][0]
    if version >= 13:
        assert body["topics"][0]["topic_id"] == TOPIC_ID
    else:
        assert body["topics"][0]["topic"] == "events"
    assert (p["partition"], p["fetch_offset"], p["partition_max_bytes"]) == (0, 1234, 1048576)
    assert p["high_watermark"] == (777 if version >= 18 else 0x7FFFFFFFFFFFFFFF)
    assert p["current_leader_epoch"] == (4 if version >= 9 else -1)
    assert p["last_fetched_epoch"] == (3 if version >= 12 else -1)
    if version >= 7:
        assert (body["session_id"], body["session_epoch"]) == (77, 2)
        (forgotten,) = body["forgotten_topics_data"]
        assert forgotten["partitions"] == [1, 2]
        assert (forgotten["topic_id"] if version >= 13 else forgotten["topic"]) == (
            OLD_ID if version >= 13 else "old")
    assert body["rack_id"] == ("rack-a" if version >= 11 else "")
    assert body["cluster_id"] == ("cluster-xyz" if version >= 12 else None)


@pytest.mark.parametrize("version", [1, 2, 5, 6, 7])
def test_list_offsets_request_from_kafka_python(version: int) -> None:
    topic = ListOffsetsRequest.ListOffsetsTopic
    req = ListOffsetsRequest[version](replica_id=-1, isolation_level=1, topics=[
        topic(name="t", partitions=[topic.ListOffsetsPartition(partition_index=3, current_leader_epoch=9,
                                                              timestamp=-2)])])
    body = ours_decode(LIST_OFFSETS, "request", version, bytes(req.encode()))
    assert body["replica_id"] == -1
    assert body["isolation_level"] == (1 if version >= 2 else 0)
    p = body["topics"][0]["partitions"][0]
    assert (p["partition_index"], p["timestamp"]) == (3, -2)
    assert p["current_leader_epoch"] == (9 if version >= 4 else -1)


@pytest.mark.parametrize("version", [0, 1, 4, 8, 9, 10, 12])
def test_metadata_request_from_kafka_python(version: int) -> None:
    named = MetadataRequest[version](topics=[MetadataRequest.MetadataRequestTopic(name="a")],
                                     allow_auto_topic_creation=False)
    body = ours_decode(METADATA, "request", version, bytes(named.encode()))
    assert [t["name"] for t in body["topics"]] == ["a"]
    assert body["allow_auto_topic_creation"] is (version < 4)  # absent before v4: default true
    if version >= 1:
        every = MetadataRequest[version](topics=None)
        assert ours_decode(METADATA, "request", version, bytes(every.encode()))["topics"] is None


# --- hand-written cases: our responses decoded by kafka-python -------------------------------------


@pytest.mark.parametrize("version", [3, 5, 8, 9, 10, 11, 12, 13])
def test_produce_response_to_kafka_python(version: int) -> None:
    body = {"responses": [{"name": "orders", "topic_id": TOPIC_ID, "partition_responses": [{
        "index": 2, "error_code": 0, "base_offset": 4200, "log_append_time_ms": 1_700_000_000_000,
        "log_start_offset": 10, "record_errors": [{"batch_index": 1, "batch_index_error_message": "bad"}],
        "error_message": "partly", "current_leader": {"leader_id": 1, "leader_epoch": 7},
    }]}], "throttle_time_ms": 3, "node_endpoints": [{"node_id": 1, "host": "h", "port": 9092, "rack": None}]}
    wire = codec.encode(PRODUCE.response, version, version in PRODUCE.flexible, body)
    got = kafka_decode(PRODUCE, "response", version, wire)
    p = got["responses"][0]["partition_responses"][0]
    if version >= 13:
        assert got["responses"][0]["topic_id"] == TOPIC_ID
    else:
        assert got["responses"][0]["name"] == "orders"
    assert (p["index"], p["error_code"], p["base_offset"]) == (2, 0, 4200)
    assert p["log_append_time_ms"] == 1_700_000_000_000
    assert got["throttle_time_ms"] == 3
    if version >= 5:
        assert p["log_start_offset"] == 10
    if version >= 8:
        assert p["record_errors"] == [{"batch_index": 1, "batch_index_error_message": "bad"}]
        assert p["error_message"] == "partly"
    if version >= 10:
        assert p["current_leader"] == {"leader_id": 1, "leader_epoch": 7}
        assert got["node_endpoints"] == [{"node_id": 1, "host": "h", "port": 9092, "rack": None}]


@pytest.mark.parametrize("version", [4, 5, 7, 11, 12, 13, 16, 18])
def test_fetch_response_to_kafka_python(version: int) -> None:
    records = bytes(range(70))
    part = {"partition_index": 0, "error_code": 0, "high_watermark": 100, "last_stable_offset": 90,
            "log_start_offset": 5, "aborted_transactions": [{"producer_id": 9, "first_offset": 50}],
            "preferred_read_replica": -1, "records": records,
            "diverging_epoch": {"epoch": 2, "end_offset": 40}}
    empty = {"partition_index": 1, "error_code": 6, "high_watermark": -1, "aborted_transactions": None,
             "records": None}
    body = {"throttle_time_ms": 0, "error_code": 0, "session_id": 12,
            "responses": [{"topic": "events", "topic_id": TOPIC_ID, "partitions": [part, empty]}],
            "node_endpoints": [{"node_id": 3, "host": "h", "port": 9092, "rack": None}]}
    wire = codec.encode(FETCH.response, version, version in FETCH.flexible, body)
    got = kafka_decode(FETCH, "response", version, wire)
    p0, p1 = got["responses"][0]["partitions"]
    if version >= 13:
        assert got["responses"][0]["topic_id"] == TOPIC_ID
    else:
        assert got["responses"][0]["topic"] == "events"
    if version >= 16:
        assert got["node_endpoints"] == [{"node_id": 3, "host": "h", "port": 9092, "rack": None}]
    assert (p0["high_watermark"], p0["last_stable_offset"], p0["records"]) == (100, 90, records)
    assert p0["aborted_transactions"] == [{"producer_id": 9, "first_offset": 50}]
    assert (p1["error_code"], p1["records"], p1["aborted_transactions"]) == (6, None, None)
    if version >= 7:
        assert got["session_id"] == 12
    if version >= 12:
        assert p0["diverging_epoch"] == {"epoch": 2, "end_offset": 40}
        assert p1["diverging_epoch"] is None  # default: not written at all


@pytest.mark.parametrize("version", [0, 1, 7, 9, 10, 12])
def test_metadata_response_to_kafka_python(version: int) -> None:
    topic_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
    partition = {"error_code": 0, "partition_index": 0, "leader_id": 1, "leader_epoch": 4,
                 "replica_nodes": [1], "isr_nodes": [1], "offline_replicas": []}
    broker = {"node_id": 1, "host": "localhost", "port": 9092, "rack": None}
    body = {"throttle_time_ms": 0, "brokers": [broker], "cluster_id": "c1", "controller_id": 1,
            "topics": [{"error_code": 0, "name": "t", "topic_id": topic_id, "is_internal": False,
                        "partitions": [partition]}]}
    wire = codec.encode(METADATA.response, version, version in METADATA.flexible, body)
    got = kafka_decode(METADATA, "response", version, wire)
    assert got["brokers"][0]["host"] == "localhost" and got["brokers"][0]["port"] == 9092
    t = got["topics"][0]
    assert t["name"] == "t"
    assert t["partitions"][0]["replica_nodes"] == [1]
    if version >= 2:
        assert got["cluster_id"] == "c1"
    if version >= 7:
        assert t["partitions"][0]["leader_epoch"] == 4
    if version >= 10:
        assert t["topic_id"] == topic_id


@pytest.mark.parametrize("version", [2, 4, 5, 7])
def test_create_topics_round_trip_with_kafka_python(version: int) -> None:
    cls = KAFKA[(19, "request")]
    topic = cls.CreatableTopic
    config = topic.CreatableTopicConfig(name="cleanup.policy", value="compact")
    req = cls[version](topics=[topic(name="new", num_partitions=3, replication_factor=1, assignments=[],
                                     configs=[config])],
                       timeout_ms=1000, validate_only=True)
    body = ours_decode(CREATE_TOPICS, "request", version, bytes(req.encode()))
    assert body["topics"][0]["configs"] == [{"name": "cleanup.policy", "value": "compact"}]
    assert (body["timeout_ms"], body["validate_only"]) == (1000, True)
    resp = {"throttle_time_ms": 0, "topics": [{"name": "new", "error_code": 0, "error_message": None,
                                               "topic_config_error_code": 42, "num_partitions": 3,
                                               "replication_factor": 1, "configs": None}]}
    got = kafka_decode(CREATE_TOPICS, "response", version,
                       codec.encode(CREATE_TOPICS.response, version, version in CREATE_TOPICS.flexible, resp))
    assert got["topics"][0]["name"] == "new"
    if version >= 5:
        assert got["topics"][0]["topic_config_error_code"] == 42
        assert got["topics"][0]["num_partitions"] == 3


# --- differential: every core API and version against kafka-python -------------------------------


def _differential_cases() -> list[Any]:
    return [pytest.param(spec, kind, id=f"{spec.name}-{kind}") for spec in CORE_SPECS
            for kind in ("request", "response")]


@pytest.mark.parametrize(("spec", "kind"), _differential_cases())
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_same_bytes_as_kafka_python(spec: ApiSpec, kind: str, data: st.DataObject) -> None:
    """For every served version: our bytes == kafka-python's bytes, and each side decodes the other."""
    cls = KAFKA[(spec.key, kind)]
    fields = spec.request if kind == "request" else spec.response
    for version in range(spec.valid.low, spec.valid.high + 1):
        flexible = version in spec.flexible
        body = data.draw(message(fields, version, flexible), label=f"v{version} body")
        ours = codec.encode(fields, version, flexible, body)
        theirs = bytes(to_kafka(cls, fields, body, version, flexible, top=True).encode())
        assert ours == theirs, f"v{version}"
        expected = fill_defaults(fields, version, flexible, body)
        assert from_kafka(fields, version, flexible, kafka_decode(spec, kind, version, ours)) == expected
        assert ours_decode(spec, kind, version, theirs) == expected


def test_produce_request_frame_from_kafka_python_with_header() -> None:
    """A whole framed request (header v2 for flexible Produce) through our registry."""
    topic = ProduceRequest.TopicProduceData
    req = ProduceRequest[9](acks=1, timeout_ms=10, topic_data=[
        topic(name="t", partition_data=[topic.PartitionProduceData(index=0, records=b"r")])])
    req.with_header(correlation_id=41, client_id="golden")
    frame = bytes(req.encode(header=True, framed=True))
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    header, body = registry.decode_request(bytearray(frame[4:]))
    assert (header.api_key, header.api_version) == (0, 9)
    assert (header.correlation_id, header.client_id) == (41, "golden")
    assert normalize(body)["topic_data"][0]["partition_data"][0]["records"] == b"r"
